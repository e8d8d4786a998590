"""Import files read straight into an offline `NamespaceData`, with no server: what a benchmark
needs to evaluate on a dataset kept in the import format.

The result is what `fetch_namespace` would return after importing the same files: items and
users by id (a repeated id: the last row wins), events in file order with repeated event_ids
skipped. Two things have no server to ask and are decided here instead: an event must carry its
`ts` (the server would use its clock), and an item without `created_at` is dated by its first
event (the server would use the import's time), 0 when it has none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from recsys.clock import to_micros
from recsys.imports.errors import ImportFormatError
from recsys.imports.formats import Kind, validated
from recsys.offline.dataset import NamespaceData
from recsys.service.schemas import EventIn, ItemIn, StrictModel, UserIn
from recsys.signals.assemble import EventLog, Vocabulary

# Events are coded a block at a time, so memory holds arrays, not millions of Python rows.
_BLOCK = 65_536

M = TypeVar("M", bound=StrictModel)


def _records(path: Path, kind: Kind, model: type[M]) -> Iterator[tuple[int, M]]:
    for line, record in validated(path, kind):
        if isinstance(record, ImportFormatError):
            raise record
        if isinstance(record, model):  # always: `validated` builds the kind's own model
            yield line, record


class _LogBuilder:
    def __init__(self) -> None:
        self.users = Vocabulary()
        self.items = Vocabulary()
        self.parts: dict[str, list[np.ndarray]] = {
            name: [] for name in ("user", "item", "type", "value", "ts_us")
        }
        self._block: list[tuple[str, str, int, float, int]] = []

    def add(self, user_id: str, item_id: str, type_: int, value: float, ts_us: int) -> None:
        self._block.append((user_id, item_id, type_, value, ts_us))
        if len(self._block) >= _BLOCK:
            self.flush()

    def flush(self) -> None:
        if not self._block:
            return
        users, items, types, values, ts = zip(*self._block, strict=True)
        self.parts["user"].append(self.users.encode(users))
        self.parts["item"].append(self.items.encode(items))
        self.parts["type"].append(np.asarray(types, dtype=np.int8))
        self.parts["value"].append(np.asarray(values, dtype=np.float32))
        self.parts["ts_us"].append(np.asarray(ts, dtype=np.int64))
        self._block = []

    def log(self) -> EventLog:
        self.flush()
        empty = {"user": np.int64, "item": np.int64, "type": np.int8, "value": np.float32}
        arrays = {
            name: np.concatenate(parts) if parts else np.empty(0, empty.get(name, np.int64))
            for name, parts in self.parts.items()
        }
        return EventLog(users=self.users, items=self.items, **arrays)


def _event_log(path: Path) -> EventLog:
    builder = _LogBuilder()
    # Only ids the file gives are remembered: derived ones never repeat (the server would
    # store them all too).
    seen: set[str] = set()
    for line, event in _records(path, "events", EventIn):
        if event.ts is None:
            raise ImportFormatError(
                path, line, "ts", "required offline (a server would use its clock)"
            )
        if event.event_id is not None:
            if event.event_id in seen:
                continue
            seen.add(event.event_id)
        builder.add(event.user_id, event.item_id, event.type, event.value, to_micros(event.ts))
    return builder.log()


def _first_event_us(log: EventLog) -> dict[str, int]:
    first = np.full(len(log.items.ids), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, log.item, log.ts_us)
    return {item_id: int(us) for item_id, us in zip(log.items.ids, first, strict=True)}


def _items(path: Path, first_us: dict[str, int]) -> list[dict[str, Any]]:
    latest: dict[str, ItemIn] = {}
    for _, item in _records(path, "items", ItemIn):
        latest[item.item_id] = item
    rows = []
    for item_id in sorted(latest):
        row = latest[item_id].model_dump()
        created_at = row.pop("created_at")
        row["created_at_us"] = (
            to_micros(created_at) if created_at is not None else first_us.get(item_id, 0)
        )
        rows.append(row)
    return rows


def _users(path: Path) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for _, user in _records(path, "users", UserIn):
        latest[user.user_id] = user.traits
    return [{"user_id": user_id, "traits": latest[user_id]} for user_id in sorted(latest)]


def load_namespace_data(*, items: Path | None, users: Path | None, events: Path) -> NamespaceData:
    """Build the offline dataset from import files (CSV or JSONL, optionally gzipped). Without an
    items file, every item an event names becomes a minimal available item. Raises
    ImportFormatError at the first bad row."""
    log = _event_log(Path(events))
    first_us = _first_event_us(log)
    if items is not None:
        item_rows = _items(Path(items), first_us)
    else:
        item_rows = [
            {"item_id": item_id, "available": True, "created_at_us": first_us[item_id]}
            for item_id in sorted(first_us)
        ]
    user_rows = _users(Path(users)) if users is not None else []
    return NamespaceData(items=item_rows, users=user_rows, events=log)


__all__ = ["load_namespace_data"]
