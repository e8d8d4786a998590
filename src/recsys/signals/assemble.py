"""Turn records (store rows, API dicts, datasets) into a Snapshot.

Events arrive coded against append-only vocabularies (`EventLog`); assembling maps them onto the
catalogue's item_id-sorted indices and a user_id-sorted user table, so the same data gives the
same snapshot whether it came from the live store, in whatever order, or from a file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any, Literal, Protocol

import numpy as np

from recsys.data.catalog import Catalog, build_catalog
from recsys.data.interactions import (
    InteractionLog,
    LogColumns,
    UserTable,
    append_events,
    build_interaction_log,
    reindex,
)
from recsys.signals.event_types import EventTypeTable, event_strength
from recsys.signals.popularity import DecayedSums, advance_sums, decayed_sums
from recsys.signals.recent_covisitation import RecentPairs, recent_pairs
from recsys.signals.snapshot import HeavySignals, SignalParams, Snapshot, build_snapshot


@dataclass
class Vocabulary:
    """Append-only id -> code map (codes never change once given)."""

    ids: list[str] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)

    def encode(self, values: Sequence[str]) -> np.ndarray:
        codes, ids = self.codes, self.ids
        # Known ids are looked up in one C-level pass (a Python loop per value cost a build at
        # 4M events seconds); only the positions of ids new to the vocabulary are visited one
        # by one, and they get codes in order of first appearance.
        out = np.fromiter(map(codes.get, values, repeat(-1)), dtype=np.int64, count=len(values))
        for position in np.flatnonzero(out < 0).tolist():
            value = values[position]
            code = codes.get(value)
            if code is None:
                code = codes[value] = len(ids)
                ids.append(value)
            out[position] = code
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
    # Spare capacity behind the arrays: an extend copies only what it adds (amortised).
    _storage: LogColumns = field(default_factory=LogColumns, init=False, repr=False, compare=False)

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
        coded as it arrives and the arrays are extended once at the end, so the cost is linear
        in the events appended (not the log) and only one chunk's id strings are alive at a
        time. Returns the number of events appended."""
        users: list[np.ndarray] = []
        items: list[np.ndarray] = []
        types: list[np.ndarray] = []
        values: list[np.ndarray] = []
        stamps: list[np.ndarray] = []
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
            storage = self._storage
            if storage.size != len(self):  # arrays set from elsewhere (an artifact's, mapped)
                storage.reset()
            self.user = storage.extend("user", self.user, users)
            self.item = storage.extend("item", self.item, items)
            self.type = storage.extend("type", self.type, types)
            self.value = storage.extend("value", self.value, values)
            self.ts_us = storage.extend("ts_us", self.ts_us, stamps)
            storage.size = len(self.item)
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
    and items (the common case) gets them from here instead. The user half stays valid while
    the very same users list and event log user vocabulary are passed and that has not grown;
    the item half likewise with the catalogue and the item vocabulary."""

    _user_sources: tuple[Any, ...] = ()
    _item_sources: tuple[Any, ...] = ()
    table: UserTable = field(default_factory=lambda: UserTable((), {}, {}))
    user_map: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    item_map: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def of(
        self, catalog: Catalog, users: Iterable[Mapping[str, Any]], events: EventLog
    ) -> IdTables:
        # Holding the sources (not their ids) keeps them alive, so identity cannot be reused.
        # The vocabularies count: a log replaced by another (an artifact's, or empty after the
        # events were deleted) codes ids differently even when it has as many of them.
        user_sources = (users, events.users, len(events.users.ids))
        if not _same(self._user_sources, user_sources):
            known = len(self.user_map)
            held = self._user_sources
            if not (held and held[0] is users and held[1] is events.users):
                given = {u["user_id"]: u.get("traits") or {} for u in users}
                user_ids = sorted(set(given) | set(events.users.ids))
                traits: Mapping[str, Mapping[str, Any]] = {k: v for k, v in given.items() if v}
            else:
                # Only new ids in the event log: merge them into the sorted table (Timsort
                # takes the sorted run and the few new ones in about linear time, in C).
                traits = self.table.traits  # the same users list: the same traits
                fresh = [u for u in events.users.ids[known:] if u not in self.table.index]
                user_ids = sorted([*self.table.user_ids, *fresh])
            index = dict(zip(user_ids, range(len(user_ids)), strict=True))
            self.table = UserTable(user_ids=tuple(user_ids), index=index, traits=traits)
            self.user_map = np.fromiter(
                map(index.__getitem__, events.users.ids),
                dtype=np.int64,
                count=len(events.users.ids),
            )
            self._user_sources = user_sources
        item_sources = (catalog, events.items, len(events.items.ids))
        if not _same(self._item_sources, item_sources):
            self.item_map = np.asarray(
                [catalog.index.get(i, -1) for i in events.items.ids], dtype=np.int64
            )
            self._item_sources = item_sources
        return self


def _same(held: tuple[Any, ...], now: tuple[Any, ...]) -> bool:
    """Same objects, same vocabulary size (the last entry)."""
    return (
        len(held) == len(now)
        and all(a is b for a, b in zip(held[:-1], now[:-1], strict=True))
        and held[-1] == now[-1]
    )


@dataclass
class _Chain:
    """The last log assembled for a namespace, and what it was assembled from."""

    log: InteractionLog
    strength: np.ndarray
    event_types: EventTypeTable
    consumed: int  # events of the event log it covers
    vocabularies: tuple[Vocabulary, Vocabulary]
    table: UserTable
    user_map: np.ndarray
    item_map: np.ndarray
    columns: LogColumns
    # Popularity at the configured half-life, brought forward by each refresh (None: not yet).
    popularity: DecayedSums | None = None
    halflife_days: float = 0.0
    # Strength per item over the whole log (co-visitation's normaliser).
    occurrence: np.ndarray | None = None
    # Co-visitation pairs of the events since the reused heavy signals were built.
    recent: RecentPairs | None = None


@dataclass
class AssemblyCache:
    """What one namespace's refreshes keep between snapshots: the id tables, and the last
    interaction log so that the next one appends the new events to it instead of sorting the
    whole log again."""

    ids: IdTables = field(default_factory=IdTables)
    chain: _Chain | None = None


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
    cache: AssemblyCache | None = None,
) -> Snapshot:
    """Build a snapshot. Events on items missing from the catalogue are ignored (they cannot
    be recommended or described); with `as_of_us`, so are events after that instant, and
    items created after it are not available (`Catalog.as_of`). `cache`
    keeps the id tables and the last log between refreshes of one namespace: a refresh then
    costs in proportion to the events added, not to the log."""
    cache = cache or AssemblyCache()
    if as_of_us is not None:
        catalog = catalog.as_of(as_of_us)
    tables = cache.ids.of(catalog, users, events)
    table = tables.table
    grown = (
        None if as_of_us is not None else _grown(cache.chain, tables, events, params, catalog.size)
    )
    sums: DecayedSums | None = None
    occurrence: np.ndarray | None = None
    if grown is not None:
        log, strength, first_new = grown.log, grown.strength, grown.first_new
        sums = _brought_forward(
            grown.sums, first_new, log, strength, params, reference_us, catalog.size
        )
        if grown.occurrence is not None:
            occurrence = grown.occurrence + np.bincount(
                log.item[first_new:], weights=strength[first_new:], minlength=catalog.size
            )
    else:
        # Indices as the log keeps them (int32): no int64 temporaries the size of the log.
        user = tables.user_map.astype(np.int32)[events.user]
        item = tables.item_map.astype(np.int32)[events.item]
        keep = item >= 0
        if as_of_us is not None:
            keep &= events.ts_us <= as_of_us
        columns = (user, item, events.type, events.value, events.ts_us)
        if not keep.all():
            columns = tuple(column[keep] for column in columns)
        # Otherwise the log shares the event log's type, value and time arrays instead of
        # copying them (13 bytes an event): both are only ever appended to past their ends.
        log = build_interaction_log(
            user=columns[0],
            item=columns[1],
            type=columns[2],
            value=columns[3],
            ts_us=columns[4],
            n_users=table.size,
        )
        strength = event_strength(log.type, log.value, params.event_types)
    reuse = reuse if as_of_us is None else None
    recent = None
    if (
        reuse is not None
        and not reuse.placeholder
        and reuse.catalog is catalog
        and log.size > reuse.event_count
    ):
        if occurrence is None:
            occurrence = np.bincount(log.item, weights=strength, minlength=catalog.size)
        previous = grown.recent if grown is not None else None
        if previous is not None and previous.since != reuse.event_count:
            previous = None
        recent = recent_pairs(
            log,
            strength,
            previous=previous,
            since=reuse.event_count,
            window_days=params.covis_window_days,
            max_lag=params.covis_max_lag,
            n_items=catalog.size,
        )
        reuse = replace(reuse, covisitation=recent.added_to(reuse.covisitation, occurrence))
    if as_of_us is None:
        cache.chain = _Chain(
            log=log,
            strength=strength,
            event_types=params.event_types,
            consumed=len(events),
            vocabularies=(events.users, events.items),
            table=table,
            user_map=tables.user_map,
            item_map=tables.item_map,
            columns=cache.chain.columns if grown is not None and cache.chain else LogColumns(),
            popularity=sums,
            halflife_days=params.popularity_halflife_days,
            occurrence=occurrence,
            recent=recent,
        )
    popularity = None
    if sums is not None:
        popularity = (params.popularity_halflife_days, sums.scores(log.item, strength))
    return build_snapshot(
        catalog=catalog,
        users=table,
        log=log,
        params=params,
        reference_us=reference_us if as_of_us is None else min(reference_us, as_of_us),
        version=version,
        reuse=reuse,
        strength=strength,
        popularity=popularity,
    )


def _brought_forward(
    sums: DecayedSums | None,
    first_new: int,
    log: InteractionLog,
    strength: np.ndarray,
    params: SignalParams,
    reference_us: int,
    n_items: int,
) -> DecayedSums:
    """Popularity sums at `reference_us` over the whole log: `sums` (advanced, with the events
    they lack added) when given and not ahead of it, else computed over the log once."""
    if sums is not None and reference_us >= sums.reference_us:
        return advance_sums(
            sums,
            item=log.item,
            type=log.type,
            strength=strength,
            ts_us=log.ts_us,
            first_new=first_new,
            reference_us=reference_us,
        )
    return decayed_sums(
        item=log.item,
        type=log.type,
        strength=strength,
        ts_us=log.ts_us,
        halflife_by_type=params.event_types.halflife_array(params.popularity_halflife_days),
        reference_us=reference_us,
        n_items=n_items,
    )


@dataclass(frozen=True, eq=False)
class _Growth:
    """The chain's log grown by the new events, and what it kept that still applies."""

    log: InteractionLog
    strength: np.ndarray
    first_new: int  # position of the first new event
    sums: DecayedSums | None  # popularity sums on the current indices, before the new events
    occurrence: np.ndarray | None  # strength per item, likewise
    recent: RecentPairs | None  # recent co-visitation pairs, likewise


def _grown(
    chain: _Chain | None,
    tables: IdTables,
    events: EventLog,
    params: SignalParams,
    n_items: int,
) -> _Growth | None:
    """The chain's log plus the events added to `events` since; None when it cannot be
    extended (another event log, an event type table change, an item that left the catalogue
    or joined it while events on it were waiting) and a full build is needed."""
    if (
        chain is None
        or chain.vocabularies[0] is not events.users
        or chain.vocabularies[1] is not events.items
        or chain.consumed > len(events)
        or chain.event_types != params.event_types
    ):
        return None
    log = chain.log
    users = _moved_indices(chain.user_map, tables.user_map, chain.table.size)
    if users is False:
        return None
    items = _moved_indices(chain.item_map, tables.item_map, None)
    if items is False:
        return None
    if users is None and tables.table.size != chain.table.size:
        # Users without events joined the table: the referenced ones kept their indices.
        users = np.arange(chain.table.size, dtype=np.int64)
    if users is not None or items is not None:
        log = reindex(log, users=users, items=items, n_users=tables.table.size)
    new = slice(chain.consumed, len(events))
    user = tables.user_map[events.user[new]]
    item = tables.item_map[events.item[new]]
    keep = item >= 0
    type_, value = events.type[new][keep], events.value[new][keep]
    grown = append_events(
        log,
        chain.columns,
        user=user[keep],
        item=item[keep],
        type=type_,
        value=value,
        ts_us=events.ts_us[new][keep],
    )
    added = event_strength(type_, value, params.event_types)
    strength = chain.columns.extend("strength", chain.strength, added)
    sums = chain.popularity
    if sums is not None and chain.halflife_days != params.popularity_halflife_days:
        sums = None
    if sums is not None and (items is not None or sums.sums.shape[1] != n_items):
        sums = _moved_sums(sums, items, n_items)
    catalogue_same = items is None and (
        chain.occurrence is not None and len(chain.occurrence) == n_items
    )
    return _Growth(
        log=grown,
        strength=strength,
        first_new=log.size,
        sums=sums,
        occurrence=chain.occurrence if catalogue_same else None,
        recent=chain.recent if catalogue_same else None,
    )


def _moved_sums(sums: DecayedSums, items: np.ndarray | None, n_items: int) -> DecayedSums:
    """Popularity sums on a changed catalogue (`items`: old index -> new, None: unchanged)."""
    moved = np.zeros((sums.sums.shape[0], n_items), dtype=np.float64)
    if items is None:
        keep = min(n_items, sums.sums.shape[1])
        moved[:, :keep] = sums.sums[:, :keep]
    else:
        referenced = np.flatnonzero(items >= 0)
        moved[:, items[referenced]] = sums.sums[:, referenced]
    return replace(sums, sums=moved)


def _moved_indices(
    before: np.ndarray, after: np.ndarray, size: int | None
) -> np.ndarray | Literal[False] | None:
    """Old index -> new index over the codes both maps cover (None: nothing moved; False: the
    move cannot be applied to a log by reindexing alone)."""
    old = before
    new = after[: len(before)]
    if before is after or np.array_equal(old, new):
        return None
    known = old >= 0
    if np.any(known != (new >= 0)):
        return False  # an id joined or left the table: events were dropped or must be
    moved = np.full(int(old.max(initial=-1)) + 1 if size is None else size, -1, dtype=np.int64)
    moved[old[known]] = new[known]
    referenced = np.flatnonzero(moved >= 0)
    if np.any(np.diff(moved[referenced]) <= 0):
        return False  # not order-preserving: the per-user grouping would change
    return moved


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
    "AssemblyCache",
    "EventColumns",
    "EventLog",
    "IdTables",
    "Vocabulary",
    "assemble_snapshot",
    "snapshot_from_records",
]
