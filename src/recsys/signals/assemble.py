"""Turn records (store rows, API dicts, datasets) into a Snapshot.

Events arrive coded against append-only vocabularies (`EventLog`); assembling maps them onto the
catalogue's item_id-sorted indices and a user_id-sorted user table, so the same data gives the
same snapshot whether it came from the live store, in whatever order, or from a file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from recsys.data.catalog import Catalog, build_catalog
from recsys.data.interactions import UserTable, build_interaction_log
from recsys.signals.snapshot import HeavySignals, SignalParams, Snapshot, build_snapshot


@dataclass
class Vocabulary:
    """Append-only id -> code map (codes never change once given)."""

    ids: list[str] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)

    def encode(self, values: Sequence[str]) -> np.ndarray:
        codes, ids = self.codes, self.ids
        out = np.empty(len(values), dtype=np.int64)
        for n, value in enumerate(values):
            code = codes.get(value)
            if code is None:
                code = codes[value] = len(ids)
                ids.append(value)
            out[n] = code
        return out


class EventColumns(Protocol):
    """A chunk of events as columns (the store's EventBatch is one)."""

    @property
    def user_id(self) -> Sequence[str]: ...
    @property
    def item_id(self) -> Sequence[str]: ...
    @property
    def type(self) -> np.ndarray: ...
    @property
    def value(self) -> np.ndarray: ...
    @property
    def ts_us(self) -> np.ndarray: ...


@dataclass(frozen=True)
class _Columns:
    user_id: Sequence[str]
    item_id: Sequence[str]
    type: np.ndarray
    value: np.ndarray
    ts_us: np.ndarray


@dataclass
class EventLog:
    """Events in arrival order, coded against vocabularies; appended to, never rewritten."""

    users: Vocabulary = field(default_factory=Vocabulary)
    items: Vocabulary = field(default_factory=Vocabulary)
    user: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    item: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    type: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    value: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    ts_us: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.item)

    def append(
        self,
        *,
        user_id: Sequence[str],
        item_id: Sequence[str],
        type: np.ndarray,
        value: np.ndarray,
        ts_us: np.ndarray,
    ) -> None:
        self.extend([_Columns(user_id, item_id, type, value, ts_us)])

    def extend(self, chunks: Iterable[EventColumns]) -> int:
        """Append chunks of events in order (e.g. streamed from the store): each chunk's ids are
        coded as it arrives and the arrays are joined once at the end, so the cost is linear in
        the events and only one chunk's id strings are alive at a time. Returns the number of
        events appended."""
        users, items, types = [self.user], [self.item], [self.type]
        values, stamps = [self.value], [self.ts_us]
        added = 0
        for chunk in chunks:
            if len(chunk.item_id) == 0:
                continue
            users.append(self.users.encode(chunk.user_id))
            items.append(self.items.encode(chunk.item_id))
            types.append(np.asarray(chunk.type, dtype=np.int8))
            values.append(np.asarray(chunk.value, dtype=np.float32))
            stamps.append(np.asarray(chunk.ts_us, dtype=np.int64))
            added += len(chunk.item_id)
        if added:
            self.user = np.concatenate(users)
            self.item = np.concatenate(items)
            self.type = np.concatenate(types)
            self.value = np.concatenate(values)
            self.ts_us = np.concatenate(stamps)
        return added

    def frozen(self) -> EventLog:
        """A copy that later appends cannot change (arrays are replaced, never written to)."""
        return EventLog(
            users=Vocabulary(list(self.users.ids), dict(self.users.codes)),
            items=Vocabulary(list(self.items.ids), dict(self.items.codes)),
            user=self.user,
            item=self.item,
            type=self.type,
            value=self.value,
            ts_us=self.ts_us,
        )

    @classmethod
    def from_records(cls, events: Iterable[Mapping[str, Any]]) -> EventLog:
        rows = list(events)
        log = cls()
        log.append(
            user_id=[r["user_id"] for r in rows],
            item_id=[r["item_id"] for r in rows],
            type=np.asarray([r["type"] for r in rows], dtype=np.int8),
            value=np.asarray([r.get("value", 1.0) for r in rows], dtype=np.float32),
            ts_us=np.asarray([r["ts_us"] for r in rows], dtype=np.int64),
        )
        return log


@dataclass
class IdTables:
    """The user table and the maps from the event log's id codes to user and catalogue indices.

    Building them walks every user and every distinct id in Python, holding the GIL for a
    noticeable time on a big namespace; a refresh that brings only new events from known users
    and items (the common case) gets them from here instead. Valid while the very same users
    list, catalogue and event log vocabularies are passed and those have not grown."""

    _key: tuple[Any, ...] = ()
    _sources: tuple[Any, ...] = ()
    table: UserTable = field(default_factory=lambda: UserTable((), {}, ()))
    user_map: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    item_map: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def of(
        self, catalog: Catalog, users: Iterable[Mapping[str, Any]], events: EventLog
    ) -> IdTables:
        key = (len(events.users.ids), len(events.items.ids))
        sources = (catalog, users, events.users, events.items)
        if (
            len(self._sources) == len(sources)
            and all(a is b for a, b in zip(self._sources, sources, strict=True))
            and self._key == key
        ):
            return self
        traits = {u["user_id"]: dict(u.get("traits") or {}) for u in users}
        user_ids = sorted(set(traits) | set(events.users.ids))
        self.table = UserTable(
            user_ids=tuple(user_ids),
            index={user_id: i for i, user_id in enumerate(user_ids)},
            traits=tuple(traits.get(user_id, {}) for user_id in user_ids),
        )
        index = self.table.index
        self.user_map = np.asarray([index[u] for u in events.users.ids], dtype=np.int64)
        self.item_map = np.asarray(
            [catalog.index.get(i, -1) for i in events.items.ids], dtype=np.int64
        )
        # Holding the sources (not their ids) keeps them alive, so identity cannot be reused.
        # The vocabularies count: a log replaced by another (an artifact's, or empty after the
        # events were deleted) codes ids differently even when it has as many of them.
        self._sources, self._key = sources, key
        return self


def assemble_snapshot(
    *,
    catalog: Catalog,
    users: Iterable[Mapping[str, Any]],
    events: EventLog,
    params: SignalParams,
    reference_us: int,
    as_of_us: int | None = None,
    version: dict[str, Any] | None = None,
    reuse: HeavySignals | None = None,
    cache: IdTables | None = None,
) -> Snapshot:
    """Build a snapshot. Events on items missing from the catalogue are ignored (they cannot
    be recommended or described); with `as_of_us`, so are events after that instant. `cache`
    keeps the id tables between refreshes of one namespace."""
    tables = (cache or IdTables()).of(catalog, users, events)
    table, user_map, item_map = tables.table, tables.user_map, tables.item_map
    user = user_map[events.user] if len(events) else np.empty(0, np.int64)
    item = item_map[events.item] if len(events) else np.empty(0, np.int64)
    keep = item >= 0
    if as_of_us is not None:
        keep &= events.ts_us <= as_of_us
    log = build_interaction_log(
        user=user[keep],
        item=item[keep],
        type=events.type[keep],
        value=events.value[keep],
        ts_us=events.ts_us[keep],
        n_users=table.size,
    )
    return build_snapshot(
        catalog=catalog,
        users=table,
        log=log,
        params=params,
        reference_us=reference_us if as_of_us is None else min(reference_us, as_of_us),
        version=version,
        reuse=reuse if as_of_us is None else None,
    )


def snapshot_from_records(
    *,
    items: Iterable[Mapping[str, Any]],
    users: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    params: SignalParams | None = None,
    reference_us: int,
    as_of_us: int | None = None,
) -> Snapshot:
    """Convenience for tests and small datasets: records (with `ts_us`) in, snapshot out."""
    return assemble_snapshot(
        catalog=build_catalog(items),
        users=users,
        events=EventLog.from_records(events),
        params=params or SignalParams(),
        reference_us=reference_us,
        as_of_us=as_of_us,
    )


__all__ = [
    "EventColumns",
    "EventLog",
    "IdTables",
    "Vocabulary",
    "assemble_snapshot",
    "snapshot_from_records",
]
