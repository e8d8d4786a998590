"""Import files into a namespace over HTTP: check every file first (bad input changes nothing),
then send items, users and events in API-sized batches, one batch in memory at a time."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from recsys.client import ApiCallError, RecsysClient
from recsys.imports.errors import ImportFormatError
from recsys.imports.formats import KINDS, Kind, Row, api_rows
from recsys.service.schemas.common import (
    MAX_EVENTS_PER_BATCH,
    MAX_ITEMS_PER_BATCH,
    MAX_USERS_PER_BATCH,
    NAMESPACE_PATTERN,
)

MAX_ERRORS = 20
BATCH_LIMITS: dict[Kind, int] = {
    "items": MAX_ITEMS_PER_BATCH,
    "users": MAX_USERS_PER_BATCH,
    "events": MAX_EVENTS_PER_BATCH,
}
# The server refuses bodies over 16 MB. Rows are measured as compact UTF-8 JSON; the client's
# encoder may escape non-ASCII text, up to twice as long, hence half the limit.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_RATE_LIMIT_RETRIES = 30
_PROGRESS_EVERY = 5000

# (stage, rows done in the stage, rows in the stage if known). Stages: "check <kind>" while
# validating (total unknown), "<kind>" while sending (total known from the check).
Progress = Callable[[str, int, int | None], None]


class ImportValidationError(ValueError):
    """The files hold bad rows (up to MAX_ERRORS of them are listed); nothing was sent."""

    def __init__(self, errors: list[ImportFormatError], *, truncated: bool) -> None:
        self.errors = errors
        self.truncated = truncated
        more = f" (stopped at {len(errors)})" if truncated else ""
        super().__init__(f"{len(errors)} problem(s) in the import files{more}; nothing was sent")


class ImportRefused(RuntimeError):
    """The server refused a batch. `summary` counts what was stored before it (re-running the
    import is safe: items and users are replaced, events are idempotent by event_id)."""

    def __init__(self, error: ApiCallError, summary: dict[str, Any]) -> None:
        super().__init__(str(error))
        self.error = error
        self.summary = summary


def _given(items: Any, users: Any, events: Any) -> dict[Kind, Path]:
    paths: dict[Kind, Path] = {}
    for kind, path in zip(KINDS, (items, users, events), strict=True):
        if path is not None:
            paths[kind] = Path(path)
    if not paths:
        raise ValueError("nothing to import: give items, users or events")
    return paths


def validate_files(
    *,
    items: str | os.PathLike[str] | None = None,
    users: str | os.PathLike[str] | None = None,
    events: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Read every given file through and return its row count by kind. Raises
    ImportValidationError listing the first MAX_ERRORS problems (with file and line)."""
    errors: list[ImportFormatError] = []

    def note(error: ImportFormatError) -> None:
        errors.append(error)
        if len(errors) >= MAX_ERRORS:
            raise ImportValidationError(errors, truncated=True)

    rows: dict[str, int] = {}
    for kind, path in _given(items, users, events).items():
        count = 0
        dims: int | None = None
        try:
            for line, row in api_rows(path, kind):
                count += 1
                if isinstance(row, ImportFormatError):
                    note(row)
                elif kind == "items" and row.get("embedding"):
                    # The server holds one embedding size per namespace: a mixed file would fail
                    # half-way, after earlier batches were stored.
                    size = len(row["embedding"])
                    dims = dims or size
                    if size != dims:
                        reason = f"{size} dimensions, earlier items have {dims}"
                        note(ImportFormatError(path, line, "embedding", reason))
                if progress and count % _PROGRESS_EVERY == 0:
                    progress(f"check {kind}", count, None)
        except ImportFormatError as exc:  # the file as a whole: stop reading it, check the next
            note(exc)
        rows[kind] = count
        if progress:
            progress(f"check {kind}", count, None)
    if errors:
        raise ImportValidationError(errors, truncated=False)
    return rows


def _batches(path: Path, kind: Kind, size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    nbytes = 0
    for _, row in api_rows(path, kind):
        if isinstance(row, ImportFormatError):
            raise row  # the file changed since it was checked
        row_bytes = len(orjson.dumps(row)) + 1
        if batch and (len(batch) >= size or nbytes + row_bytes > MAX_BODY_BYTES):
            yield batch
            batch, nbytes = [], 0
        batch.append(row)
        nbytes += row_bytes
    if batch:
        yield batch


def _push(client: RecsysClient, kind: Kind, namespace: str, batch: list[Row]) -> dict[str, int]:
    """One batch; waits and retries while the server's rate limit says so."""
    for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
        try:
            return client.push(kind, namespace, batch)
        except ApiCallError as exc:
            if exc.status != 429 or attempt == MAX_RATE_LIMIT_RETRIES:
                raise
            details = exc.body.get("details", {}) if isinstance(exc.body, dict) else {}
            wait = float(details.get("retry_after_seconds") or 1.0)
            time.sleep(min(max(wait, 0.05), 30.0))
    raise AssertionError("unreachable")


def check_namespace(namespace: str) -> None:
    """Refuse a namespace name the API would refuse, before any file is read."""
    if not re.fullmatch(NAMESPACE_PATTERN, namespace):
        raise ValueError(f"invalid namespace {namespace!r}: 1-64 of A-Z a-z 0-9 _ . -")


def import_files(
    client: RecsysClient,
    namespace: str,
    *,
    items: str | os.PathLike[str] | None = None,
    users: str | os.PathLike[str] | None = None,
    events: str | os.PathLike[str] | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Check every given file, then send items, users and events (in that order, so events find
    their items) in batches of `chunk_size` rows (default and maximum: the API's limits, 1000
    items or users, 5000 events). Raises ImportValidationError before sending anything when a
    file is bad, ImportRefused when the server refuses a batch."""
    check_namespace(namespace)
    if chunk_size is not None and chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    started = time.monotonic()
    paths = _given(items, users, events)
    rows = validate_files(items=items, users=users, events=events, progress=progress)
    summary: dict[str, Any] = {
        "namespace": namespace,
        "files": {kind: str(path) for kind, path in paths.items()},
        "rows": rows,
        "items_upserted": 0,
        "users_upserted": 0,
        "events_accepted": 0,
        "events_inserted": 0,
        "events_duplicates": 0,
    }
    for kind, path in paths.items():
        size = min(chunk_size or BATCH_LIMITS[kind], BATCH_LIMITS[kind])
        sent = 0
        for batch in _batches(path, kind, size):
            try:
                counts = _push(client, kind, namespace, batch)
            except ApiCallError as exc:
                summary["seconds"] = round(time.monotonic() - started, 3)
                raise ImportRefused(exc, summary) from exc
            for name, value in counts.items():
                key = f"{kind}_{name}"
                if key in summary:
                    summary[key] += value
            sent += len(batch)
            if progress:
                progress(kind, sent, rows[kind])
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary


__all__ = [
    "MAX_ERRORS",
    "ImportRefused",
    "ImportValidationError",
    "Progress",
    "check_namespace",
    "import_files",
    "validate_files",
]
