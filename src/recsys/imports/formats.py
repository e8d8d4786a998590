"""The import format: CSV or JSONL files of items, users and events, read as a stream and turned
into the objects the HTTP API accepts, checked by the API's own models (`ItemIn`, `UserIn`,
`EventIn`), so a file that passes here is accepted by the server.

CSV conventions (docs/importing.md is the user's reference):
- one header line; cells are trimmed and an empty cell means "not given";
- items: `tags` split on ";", `category_path` split on ">" (not "/", which occurs inside category
  names such as "T-shirts/Tops"), `available` is true/false/1/0/yes/no, unknown columns become
  string `props`;
- users: every column but `user_id` is a trait; numbers written plainly become numbers;
- events: only the API's scalar fields (`meta` needs JSONL).
An event without `event_id` gets a derived one (see `EventIds`), so importing a file twice stores
its events once."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from recsys.clock import to_micros
from recsys.imports.errors import ImportFormatError, from_validation
from recsys.imports.sources import csv_records, file_format, jsonl_lines
from recsys.service.schemas.common import StrictModel
from recsys.service.schemas.ingest import EventIn, ItemIn, UserIn

Kind = Literal["items", "users", "events"]
KINDS: tuple[Kind, ...] = ("items", "users", "events")
Row = dict[str, Any]

TAG_SEPARATOR = ";"
CATEGORY_PATH_SEPARATOR = ">"
DERIVED_ID_PREFIX = "imp-"

ITEM_COLUMNS = frozenset(
    {
        "item_id",
        "title",
        "description",
        "category",
        "brand",
        "tags",
        "price",
        "available",
        "category_path",
        "created_at",
    }
)
# API fields a CSV cell cannot express; as columns they would silently become string props.
_ITEM_JSONL_ONLY = frozenset({"embedding", "props"})
EVENT_COLUMNS = frozenset({"event_id", "user_id", "item_id", "type", "value", "ts"})
REQUIRED_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "items": ("item_id",),
    "users": ("user_id",),
    "events": ("user_id", "item_id", "type"),
}
_MODELS: dict[Kind, type[StrictModel]] = {"items": ItemIn, "users": UserIn, "events": EventIn}

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
# Plain decimal numbers only: "007" or "1_000" stay text (postcodes, codes), as does "nan".
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?P<fraction>(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)")


class _CellError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# --- CSV cells -> API objects ------------------------------------------------------------------


def _split(text: str, separator: str) -> list[str]:
    return [part.strip() for part in text.split(separator) if part.strip()]


def _flag(field: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _CellError(field, f"expected true/false/1/0/yes/no (got {text!r})")


def _number_or_text(text: str) -> Any:
    match = _NUMBER.fullmatch(text)
    if match is None:
        return text
    if not match.group("fraction"):
        return int(text)
    value = float(text)
    return value if math.isfinite(value) else text  # 1e999 is no number JSON can carry


def _item(cells: dict[str, str]) -> Row:
    row: Row = {}
    props: dict[str, str] = {}
    for name, text in cells.items():
        if name == "tags":
            row["tags"] = _split(text, TAG_SEPARATOR)
        elif name == "category_path":
            row["category_path"] = _split(text, CATEGORY_PATH_SEPARATOR)
        elif name == "available":
            row["available"] = _flag(name, text)
        elif name in ITEM_COLUMNS:
            row[name] = text  # numbers and times are parsed by the model, as the API parses them
        else:
            props[name] = text
    if props:
        row["props"] = props
    return row


def _user(cells: dict[str, str]) -> Row:
    traits = {name: _number_or_text(text) for name, text in cells.items() if name != "user_id"}
    row: Row = {"user_id": cells.get("user_id", "")}
    if traits:
        row["traits"] = traits
    return row


def _event(cells: dict[str, str]) -> Row:
    return dict(cells)


_FROM_CELLS: dict[Kind, Callable[[dict[str, str]], Row]] = {
    "items": _item,
    "users": _user,
    "events": _event,
}


def _check_header(path: Path, kind: Kind, header: list[str]) -> None:
    problems = []
    unnamed = [str(n) for n, name in enumerate(header, start=1) if not name]
    if unnamed:
        problems.append(f"column(s) {', '.join(unnamed)} have no name")
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    missing = [name for name in REQUIRED_COLUMNS[kind] if name not in header]
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    if kind == "events":
        unknown = [name for name in header if name and name not in EVENT_COLUMNS]
        if unknown:
            problems.append(
                f"unknown column(s): {', '.join(unknown)} (events take "
                f"{', '.join(sorted(EVENT_COLUMNS))}; meta needs JSONL)"
            )
    if kind == "items":
        json_only = [name for name in header if name in _ITEM_JSONL_ONLY]
        if json_only:
            problems.append(f"column(s) {', '.join(json_only)} cannot be given in CSV: use JSONL")
    if problems:
        raise ImportFormatError(path, 1, None, "header: " + "; ".join(problems))


# --- validated records -------------------------------------------------------------------------

Checked = tuple[int, StrictModel | ImportFormatError]


def validated(path: str | os.PathLike[str], kind: Kind) -> Iterator[Checked]:
    """(line, model) per record, checked by the API's model. A bad record comes as
    (line, ImportFormatError) so that a checker can go on; a bad file (unreadable, wrong
    extension, bad CSV header or quoting) raises."""
    path = Path(path)
    model = _MODELS[kind]
    form, gzipped = file_format(path)
    if form == "jsonl":
        for line, text in jsonl_lines(path, gzipped):
            try:
                yield line, model.model_validate_json(text)
            except ValidationError as exc:
                yield line, from_validation(path, line, exc)
        return
    convert = _FROM_CELLS[kind]
    records = csv_records(path, gzipped, lambda header: _check_header(path, kind, header))
    for line, header, cells in records:
        if len(cells) != len(header):
            reason = f"{len(cells)} cells, the header has {len(header)}"
            yield line, ImportFormatError(path, line, None, reason)
            continue
        try:
            row = convert({name: text for name, text in zip(header, cells, strict=True) if text})
            yield line, model.model_validate(row)
        except _CellError as exc:
            yield line, ImportFormatError(path, line, exc.field, exc.reason)
        except ValidationError as exc:
            yield line, from_validation(path, line, exc)


class EventIds:
    """Derived event ids for events given without one: "imp-" and 32 hex digits of a BLAKE2b
    hash of user_id, item_id, type code, value, ts (UTC microseconds, or none) and how many
    identical events came earlier in the same file. Spelling does not matter ("buy" = "3",
    "+02:00" = the same instant in "Z"), and the ids are stable when rows are appended to a file.

    Counting repeats keeps one small integer per distinct event in memory (about 100 bytes), the
    price of telling genuinely repeated rows apart without holding the file."""

    def __init__(self) -> None:
        self._seen: dict[int, int] = {}

    def derive(self, event: EventIn) -> str:
        ts = None if event.ts is None else to_micros(event.ts)
        payload = json.dumps(
            [event.user_id, event.item_id, event.type, float(event.value), ts],
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        # A collision of this 64-bit key only shifts a repeat count: ids stay distinct.
        key = int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest())
        earlier = self._seen.get(key, 0)
        self._seen[key] = earlier + 1
        digest = hashlib.blake2b(payload + b"#%d" % earlier, digest_size=16).hexdigest()
        return DERIVED_ID_PREFIX + digest


def api_rows(
    path: str | os.PathLike[str], kind: Kind
) -> Iterator[tuple[int, Row | ImportFormatError]]:
    """(line, API object) per record, as `validated` but dumped the way the API takes them
    (only the fields given, event types as codes) and with derived event ids."""
    ids = EventIds() if kind == "events" else None
    for line, record in validated(path, kind):
        if isinstance(record, ImportFormatError):
            yield line, record
            continue
        row = record.model_dump(mode="json", exclude_unset=True)
        if ids is not None and isinstance(record, EventIn) and record.event_id is None:
            row["event_id"] = ids.derive(record)
        yield line, row


def _read(path: str | os.PathLike[str], kind: Kind) -> Iterator[Row]:
    for _, row in api_rows(path, kind):
        if isinstance(row, ImportFormatError):
            raise row
        yield row


def read_items(path: str | os.PathLike[str]) -> Iterator[Row]:
    """Items of a CSV or JSONL file as API objects, one at a time; raises ImportFormatError at
    the first bad row."""
    yield from _read(path, "items")


def read_users(path: str | os.PathLike[str]) -> Iterator[Row]:
    """Users of a CSV or JSONL file as API objects ({user_id, traits}), one at a time."""
    yield from _read(path, "users")


def read_events(path: str | os.PathLike[str]) -> Iterator[Row]:
    """Events of a CSV or JSONL file as API objects, one at a time, each with an event_id (the
    file's own, or a derived one: see `EventIds`)."""
    yield from _read(path, "events")


__all__ = [
    "CATEGORY_PATH_SEPARATOR",
    "KINDS",
    "TAG_SEPARATOR",
    "EventIds",
    "ImportFormatError",
    "Kind",
    "api_rows",
    "read_events",
    "read_items",
    "read_users",
    "validated",
]
