"""Context buckets: which slice of traffic a decision learns from.

A bucket is the canonical JSON of the request context's top-level *categorical* entries: string,
integer and boolean values, sorted by key, with no whitespace (`{"device":"mobile","locale":"de"}`;
an empty context is the bucket `{}`). Entries that cannot name a category are left out: floats
(continuous), null, lists and objects, and the reserved keys `surface` (a dimension of its own)
and `as_of` (a time). The same context therefore always gives the same key, whatever the order
of its keys.

Each bucket learns separately, so every distinct combination starts cold: the size limits below
keep one request from creating an unbounded key, and callers should keep bucket features
low-cardinality (device, locale, segment — not session ids or timestamps).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

RESERVED_KEYS = frozenset({"surface", "as_of"})
MAX_BUCKET_ENTRIES = 8
MAX_BUCKET_KEY_CHARS = 256
# Neither store keeps U+0000 or an unpaired surrogate as sent, and no JSON answer can echo one.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BucketError(ValueError):
    """The context cannot form a bucket key; `key` names the offending entry, if one."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _categorical(value: Any) -> bool:
    # bool is an int subclass; both are categories, a float is not.
    return isinstance(value, str | int) and not isinstance(value, float)


def bucket_entries(context: Mapping[str, Any]) -> dict[str, str | int | bool]:
    """The entries of `context` that form its bucket, sorted by key."""
    entries: dict[str, str | int | bool] = {}
    for key in sorted(context):
        value = context[key]
        if key in RESERVED_KEYS or not _categorical(value):
            continue
        if _UNSTORABLE.search(key):
            raise BucketError("a context key holds U+0000 or an unpaired surrogate")
        if isinstance(value, str) and _UNSTORABLE.search(value):
            raise BucketError(
                f"context.{key}: U+0000 and unpaired surrogates cannot form a bucket", key
            )
        entries[key] = value
    return entries


def bucket_key(context: Mapping[str, Any]) -> str:
    """Canonical bucket key of a context; raises BucketError past the documented limits."""
    entries = bucket_entries(context)
    if len(entries) > MAX_BUCKET_ENTRIES:
        raise BucketError(
            f"context has {len(entries)} categorical entries; a bucket takes at most "
            f"{MAX_BUCKET_ENTRIES} (floats, lists, objects, surface and as_of do not count)"
        )
    key = json.dumps(entries, separators=(",", ":"), ensure_ascii=False)
    if len(key) > MAX_BUCKET_KEY_CHARS:
        raise BucketError(
            f"the context's bucket key is {len(key)} characters; at most "
            f"{MAX_BUCKET_KEY_CHARS} are allowed (use shorter, categorical values)"
        )
    return key


__all__ = [
    "MAX_BUCKET_ENTRIES",
    "MAX_BUCKET_KEY_CHARS",
    "RESERVED_KEYS",
    "BucketError",
    "bucket_entries",
    "bucket_key",
]
