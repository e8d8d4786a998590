"""What every API body shares: the documented limits, the constrained types (namespace names,
identifiers, storable text and JSON, times, event types), the strict base model, and the error,
health and version bodies."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

MAX_ITEMS_PER_BATCH = 1000
MAX_USERS_PER_BATCH = 1000
MAX_EVENTS_PER_BATCH = 5000
MAX_IDS_PER_DELETE = 5000
MAX_TAGS_PER_ITEM = 64
MAX_EMBEDDING_DIM = 2048
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

NAMESPACE_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
# Text both stores keep as sent. PostgreSQL refuses U+0000 in text and JSON columns (that was a
# 500 there, and silently stored on SQLite), so it is refused up front, on both backends alike.
STORABLE_TEXT_PATTERN = r"^[^\x00]*$"
# Surfaces are stored in 64-character columns (rules, manual overrides, decision audit).
MAX_SURFACE_LENGTH = 64

NamespaceName = Annotated[
    str,
    StringConstraints(pattern=NAMESPACE_PATTERN),
    Field(description="Namespace inside the org: 1-64 of A-Z a-z 0-9 _ . -", examples=["demo"]),
]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=STORABLE_TEXT_PATTERN)
]
ShortText = Annotated[str, StringConstraints(max_length=256, pattern=STORABLE_TEXT_PATTERN)]
# Any length: filters in query strings, where a value longer than any stored one matches nothing.
StorableText = Annotated[str, StringConstraints(pattern=STORABLE_TEXT_PATTERN)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=STORABLE_TEXT_PATTERN)]
Surface = Annotated[
    str, StringConstraints(max_length=MAX_SURFACE_LENGTH, pattern=STORABLE_TEXT_PATTERN)
]

_UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
_DOUBLE_LIMIT = 2**1024  # float(n) overflows from here on


def storable_json(value: Any) -> Any:
    """Refuse free-form JSON that a JSON column cannot hold the same way on both stores.

    U+0000 or an unpaired surrogate in a key or a string: PostgreSQL's JSONB refuses them (a
    500), SQLite stores them and every later answer that returns them fails to encode (a 500).
    Numbers must be finite doubles: `NaN`/`Infinity` are not JSON, and an integer too large for
    a double overflows wherever the service computes with it (knob values, segment rules).
    Walks iteratively, so nesting depth cannot exhaust the stack; type checks are exact (`type
    is`) because this runs for every event's `meta` and JSON only yields these exact types.
    """
    search = _UNSTORABLE_CHARACTERS.search
    pending = [value]
    while pending:
        node = pending.pop()
        if type(node) is dict:
            for key in node:
                if search(key):
                    raise ValueError("keys may not contain U+0000 or unpaired surrogates")
            children: Iterable[Any] = node.values()
        else:
            children = node
        for child in children:
            kind = type(child)
            if kind is str:
                if search(child):
                    raise ValueError("text may not contain U+0000 or unpaired surrogates")
            elif kind is float:
                if not math.isfinite(child):
                    raise ValueError("numbers must be finite")
            elif kind is int:
                if not -_DOUBLE_LIMIT < child < _DOUBLE_LIMIT:
                    raise ValueError("numbers must fit a double")
            elif kind is dict or kind is list:
                pending.append(child)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(storable_json)]


def _in_utc_calendar(moment: datetime) -> datetime:
    """Times are stored as UTC microseconds and read back as datetimes: a time whose UTC form
    falls outside years 1-9999 (e.g. 9999-12-31T23:00:00-02:00) was stored, then every listing
    that returned it failed with a 500."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("must fall within years 0001-9999 once converted to UTC") from None
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_in_utc_calendar)]

# The ranking keeps event values and embeddings as float32 and sums and squares them: larger
# values overflowed to inf and came back as `null` scores (NaN). Caller scores are shifted and
# normalised in float64, which overflowed past about 1e308.
MAX_EVENT_VALUE = 1e9
MAX_EMBEDDING_COMPONENT = 1e9
MAX_CALLER_SCORE = 1e12

# Event types are stored as small integers; names are accepted on the way in.
EVENT_TYPE_NAMES: dict[int, str] = {0: "view", 1: "click", 2: "add", 3: "purchase", 4: "custom"}
_EVENT_TYPE_ALIASES: dict[str, int] = {
    **{name: code for code, name in EVENT_TYPE_NAMES.items()},
    "add_to_cart": 2,
    "add-to-cart": 2,
    "cart": 2,
    "buy": 3,
}


def parse_event_type(value: Any) -> int:
    """Map 0-4 or a type name (view, click, add, purchase, custom) to its code."""
    if isinstance(value, bool):
        raise ValueError("event type must be 0-4 or a name")
    if isinstance(value, int):
        if value in EVENT_TYPE_NAMES:
            return value
        raise ValueError(f"unknown event type {value}: use 0-4 or {sorted(_EVENT_TYPE_ALIASES)}")
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _EVENT_TYPE_ALIASES:
            return _EVENT_TYPE_ALIASES[key]
        if key.isdigit():
            return parse_event_type(int(key))
        raise ValueError(f"unknown event type {value!r}: use 0-4 or {sorted(_EVENT_TYPE_ALIASES)}")
    raise ValueError("event type must be 0-4 or a name")


EventType = Annotated[
    int,
    BeforeValidator(parse_event_type),
    Field(description="0 view, 1 click, 2 add, 3 purchase, 4 custom (names accepted too)"),
]


class StrictModel(BaseModel):
    # Unknown fields are an error (a typo must not be silently dropped); NaN/Infinity are refused.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]
    request_id: str


class Health(BaseModel):
    status: str
    store: str


class Version(BaseModel):
    version: str
    git_commit: str | None
    build_time: str | None
    model_version: str
