"""Per-namespace signal snapshots, kept warm and refreshed in the background.

A request never waits for a rebuild except the very first one of a namespace in this process,
and with `first_wait_s` not even that for long: the first load then runs in the background and
requests are served from the partial signals that exist so far, with a warning.
A background thread polls each loaded namespace's change counters (so writes made through
other workers are seen too) and is woken at once by writes made here. A refresh loads only the
new events, rebuilds the cheap signals (popularity, histories, profiles read from them) and
carries co-visitation and learned vectors over; those are recomputed off the request path when
the log has grown enough or they have aged."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection

from recsys.config.knobs import KnobValues
from recsys.data.catalog import ITEM_FIELDS, Catalog, CatalogBuilder, build_catalog
from recsys.policy.namespace import NamespacePolicy, policy_from_rows
from recsys.service.artifacts import ArtifactShelf
from recsys.service.gc_pause import collection_paused
from recsys.service.heap import map_large_blocks, release_free_memory
from recsys.service.logs import log_failure
from recsys.signals.artifact import ArtifactContent
from recsys.signals.assemble import AssemblyCache, EventLog, assemble_snapshot
from recsys.signals.snapshot import (
    HeavySignals,
    SignalParams,
    Snapshot,
    build_snapshot,
    heavy_params,
    heavy_signals_of,
    no_heavy,
    remap_heavy,
)
from recsys.store import Store
from recsys.store.control import load_policy_rows
from recsys.store.loading import (
    EventBatch,
    NamespaceVersions,
    count_items,
    load_items,
    load_users,
    namespace_versions,
    stream_events,
)

log = logging.getLogger("recsys.snapshots")

Key = tuple[str, str]  # (org_id, namespace)

# Recompute co-visitation and learned vectors when the log grew by this share, or when they
# are older than HEAVY_MAX_AGE_S and anything changed.
HEAVY_GROWTH = 0.10
# A process that finds another building a namespace's first artifact waits this long for it
# (checking every ARTIFACT_POLL_S) before building one itself.
BUILD_WAIT_S = 120.0
ARTIFACT_POLL_S = 0.2
HEAVY_MAX_AGE_S = 30.0
# Refresh passes are at least this far apart (writes other than events made here wake the
# loop at once). Each pass has a cost that does not depend on how many events it brings (the
# served co-visitation re-summed, postings re-sorted, a snapshot assembled: ~4 ms at 2,000
# items): a stream of event batches pays it at the polling pace, not five times a second.
MIN_REFRESH_GAP_S = 0.5
AS_OF_CACHE = 4
# Namespaces nobody ranked in for this long are dropped from memory (rebuilt on next use), and
# at most MAX_NAMESPACES are kept (least recently used first out): every kept namespace is
# polled twice a second, so reads of made-up namespaces must not pile up state and polling
# that slows everyone else's refreshes.
IDLE_EVICT_S = 900.0
TRIM_INTERVAL_S = 10.0
MAX_NAMESPACES = 1000

# Warnings of the lists served while a namespace's first complete snapshot is being built. The
# prefix is stable: clients that need complete lists (the tuning toolkit) wait while they see it.
BUILDING = "signals still building"
BUILDING_NO_EVENTS = f"{BUILDING}: behaviour not read yet, this list knows the catalogue only"
BUILDING_CHEAP = (
    f"{BUILDING}: ranked by popularity, history and profiles only"
    " (co-visitation, the item model and item vectors follow)"
)


@dataclass(frozen=True)
class Served:
    """What a request ranks with: the signals and the namespace policy, taken together."""

    snapshot: Snapshot
    policy: NamespacePolicy
    # Set on the partial snapshots served while the first complete one is built (BUILDING...).
    notice: str | None = None


@dataclass(frozen=True)
class BuildOutcome:
    """What `SnapshotRegistry.build` did for one namespace."""

    status: str  # "published", "current" (newest artifact covers every event), "busy", "empty"
    version: str | None  # the namespace's newest artifact version afterwards, when known
    events: int  # events the heavy signals were computed from


@dataclass
class _Namespace:
    key: Key
    params: SignalParams
    policy: NamespacePolicy = field(default_factory=NamespacePolicy)
    lock: threading.Lock = field(default_factory=threading.Lock)
    versions: NamespaceVersions | None = None
    catalog: Catalog | None = None
    # The newest catalogue version the builder has read: a catalogue edit reads only the rows
    # written after it.
    items_version: int = 0
    catalog_builder: CatalogBuilder = field(default_factory=CatalogBuilder)
    users: list[dict[str, Any]] = field(default_factory=list)
    events: EventLog = field(default_factory=EventLog)
    cache: AssemblyCache = field(default_factory=AssemblyCache)
    last_event_id: int = 0
    heavy: HeavySignals | None = None
    heavy_running: bool = False
    # The heavy signals were built with parameters that have since changed: serve them until
    # the background rebuild with the new parameters lands.
    heavy_dirty: bool = False
    served: Served | None = None
    # The first load runs in the background (`first_wait_s`): `interim` is what exists so far,
    # `progress` announces each step to the requests waiting for one.
    loading: bool = False
    interim: Served | None = None
    progress: threading.Condition = field(default_factory=threading.Condition)
    # A loaded artifact whose heavy signals are adopted once the catalogue is known.
    pending: ArtifactContent | None = None
    artifact_version: str | None = None  # the newest version this process adopted or wrote
    as_of: OrderedDict[int, Served] = field(default_factory=OrderedDict)
    last_used: float = field(default_factory=time.monotonic)

    @property
    def snapshot(self) -> Snapshot | None:
        return None if self.served is None else self.served.snapshot


class SnapshotRegistry:
    def __init__(
        self,
        store: Store,
        *,
        base_knobs: KnobValues,
        now_us: Callable[[], int],
        poll_interval_s: float = 0.5,
        idle_evict_s: float = IDLE_EVICT_S,
        max_namespaces: int = MAX_NAMESPACES,
        monotonic: Callable[[], float] = time.monotonic,
        shelf: ArtifactShelf | None = None,
        first_wait_s: float | None = None,
    ) -> None:
        """`first_wait_s`: how long a namespace's first request waits for its complete snapshot
        before it is served from partial signals (None: as long as the build takes)."""
        # The registry is where a process builds and swaps big arrays (serve, recsys build).
        map_large_blocks()
        self.store = store
        self.shelf = shelf
        self.first_wait_s = first_wait_s
        self.idle_evict_s = idle_evict_s
        self.max_namespaces = max_namespaces
        self.monotonic = monotonic
        self.base_knobs = base_knobs
        self.now_us = now_us
        self.poll_interval_s = poll_interval_s
        self._namespaces: OrderedDict[Key, _Namespace] = OrderedDict()  # least recent first
        self._registry_lock = threading.Lock()
        self._wake = threading.Event()
        self._urgent = threading.Event()  # a wake that skips the gap between refresh passes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heavy_thread: threading.Thread | None = None
        # First loads running in the background (with first_wait_s): stop() waits for them, so
        # none is left holding a store connection after the registry is stopped.
        self._first_loads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        self._heavy_queue: list[Key] = []
        self._heavy_wake = threading.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._refresh_loop, name="snapshot-refresh", daemon=True
        )
        self._heavy_thread = threading.Thread(
            target=self._heavy_loop, name="snapshot-heavy", daemon=True
        )
        self._thread.start()
        self._heavy_thread.start()
        if self.shelf is not None:
            threading.Thread(target=self._preload, name="snapshot-preload", daemon=True).start()

    def _preload(self) -> None:
        """Map the namespaces that have artifacts as soon as the process starts, so their first
        requests find them loaded (most recently published first, at most max_namespaces)."""
        assert self.shelf is not None
        try:
            keys = self.shelf.namespaces()[: self.max_namespaces]
        except Exception:
            log_failure(log, "listing snapshot artifacts failed")
            return
        for org_id, namespace in keys:
            if self._stop.is_set():
                return
            try:
                self.current(org_id, namespace)
            except Exception:
                log_failure(log, "preloading %s/%s failed", org_id, namespace)

    def stop(self) -> None:
        self._stop.set()
        self._urgent.set()
        self._wake.set()
        self._heavy_wake.set()
        for thread in (self._thread, self._heavy_thread, *list(self._first_loads)):
            if thread is not None:
                thread.join(timeout=30)
        self._thread = self._heavy_thread = None

    # --- request path -------------------------------------------------------------------------

    def is_warm(self, org_id: str, namespace: str) -> bool:
        """True when `current` would answer without building anything."""
        state = self._namespaces.get((org_id, namespace))
        return state is not None and state.served is not None

    def current(self, org_id: str, namespace: str) -> Served:
        """The namespace's snapshot and policy. The first time in this process it is built (or
        mapped from an artifact) then and there, or, with `first_wait_s`, in the background:
        the request waits that long for it, and is otherwise served what exists so far."""
        state = self._state(org_id, namespace)
        served = state.served
        if served is not None:
            return served
        if self.first_wait_s is not None:
            early = self._first_in_background(state, self.first_wait_s)
            if early is not None:
                return early
        return self._complete(state)

    def _complete(self, state: _Namespace) -> Served:
        """The namespace's complete snapshot, loaded here unless a load is already under way
        (then this waits for it: the loader holds state.lock)."""
        served = state.served
        if served is not None:
            return served
        with state.lock:
            if state.served is None:
                self._first_load(state)
            assert state.served is not None
            return state.served

    def _first_in_background(self, state: _Namespace, wait_s: float) -> Served | None:
        """Start the namespace's first load in a thread (once) and wait up to `wait_s` for it;
        then, for the first partial snapshot (the catalogue alone is read in moments). None
        when the load failed: the caller tries it itself, and reports the error."""
        with state.progress:
            if not state.loading and state.served is None:
                state.loading = True
                loader = threading.Thread(
                    target=self._load_first, args=(state,), name="snapshot-first", daemon=True
                )
                self._first_loads.add(loader)
                loader.start()
            done = state.progress.wait_for(
                lambda: state.served is not None or not state.loading, timeout=wait_s
            )
            if not done:
                state.progress.wait_for(
                    lambda: (
                        state.served is not None or state.interim is not None or not state.loading
                    )
                )
            if state.served is not None:
                return state.served
            return state.interim if state.loading else None

    def _load_first(self, state: _Namespace) -> None:
        try:
            with state.lock:
                if state.served is None:
                    self._first_load(state)
        except Exception:  # the next request tries again
            log_failure(log, "first load of %s/%s failed", *state.key)
        finally:
            with state.progress:
                state.loading = False
                state.interim = None
                state.progress.notify_all()

    def _offer_interim(self, state: _Namespace, snapshot: Snapshot, notice: str) -> None:
        with state.progress:
            state.interim = Served(snapshot, state.policy, notice)
            state.progress.notify_all()

    def as_of(self, org_id: str, namespace: str, as_of_us: int) -> Served:
        """The namespace as it stood at `as_of_us`, as far as the store can tell (built once,
        then cached): signals from the events up to then, the items that existed then
        (`Catalog.as_of`), and the config version in force then (rules, segments, profiles and
        event types keep no history: they are the current ones)."""
        state = self._state(org_id, namespace)
        self._complete(state)
        with state.lock:
            cache_key = as_of_us
            cached = state.as_of.get(cache_key)
            version = state.versions
            if cached is not None and cached.snapshot.version.get("versions") == version:
                state.as_of.move_to_end(cache_key)
                return cached
            assert state.catalog is not None
            with self.store.read() as conn:
                rows = load_policy_rows(conn, org_id=org_id, namespace=namespace, at_us=as_of_us)
            policy = policy_from_rows(**rows)
            snapshot = assemble_snapshot(
                catalog=state.catalog,
                users=state.users,
                events=state.events,
                params=policy.signal_params(self.base_knobs),
                reference_us=as_of_us,
                as_of_us=as_of_us,
                version={"versions": version, "as_of_us": as_of_us},
            )
            served = Served(snapshot, policy)
            state.as_of[cache_key] = served
            while len(state.as_of) > AS_OF_CACHE:
                state.as_of.popitem(last=False)
            return served

    def notify_write(self, org_id: str, namespace: str) -> None:
        """A write to this namespace committed here: refresh now rather than at the next poll
        (a rule, a config, the catalogue: whoever made it may ask for a ranking next)."""
        if (org_id, namespace) in self._namespaces:
            self._urgent.set()
            self._wake.set()

    def notify_events(self, org_id: str, namespace: str) -> None:
        """Events committed here: refresh soon, with the events of the next MIN_REFRESH_GAP_S
        (a stream of event batches costs a refresh per gap, not one per batch)."""
        if (org_id, namespace) in self._namespaces:
            self._wake.set()

    def invalidate(self, org_id: str, namespace: str) -> None:
        """Signal parameters changed (e.g. a new config): rebuild everything on next use."""
        with self._registry_lock:
            self._namespaces.pop((org_id, namespace), None)

    def build(self, org_id: str, namespace: str, *, force: bool = False) -> BuildOutcome:
        """Be the namespace's builder once (`recsys build`): when the build lock is free, bring
        the newest artifact up to date with the events after it and publish the result as a new
        version. Nothing is built when that artifact already covers every event (unless
        `force`), or when another process holds the lock (it is building)."""
        if self.shelf is None:
            raise RuntimeError("building artifacts needs an artifact location")
        state = self._state(org_id, namespace)
        with self.shelf.build_lock(org_id, namespace) as builder:
            if not builder:
                return BuildOutcome("busy", None, 0)
            with state.lock:
                adopted = state.served is not None or self._adopt_artifact(state)
                # Without an artifact this builds everything from the store's events.
                self._refresh(state, force_heavy=not adopted)
                if state.versions is None:
                    return BuildOutcome("empty", None, 0)
                heavy, snapshot = state.heavy, state.snapshot
                assert heavy is not None and snapshot is not None
                covered = heavy.event_count == snapshot.log.size and not state.heavy_dirty
                if adopted and covered and not force:
                    return BuildOutcome("current", state.artifact_version, heavy.event_count)
            if adopted:
                self._rebuild_heavy_here(state)
            with state.lock:
                before = state.artifact_version
                self._publish(state)
                assert state.heavy is not None
                if state.artifact_version == before:
                    raise OSError(f"snapshot artifact for {org_id}/{namespace} not written")
                return BuildOutcome("published", state.artifact_version, state.heavy.event_count)

    # --- internals ----------------------------------------------------------------------------

    def _state(self, org_id: str, namespace: str) -> _Namespace:
        key = (org_id, namespace)
        with self._registry_lock:
            state = self._namespaces.get(key)
            if state is None:
                state = _Namespace(key=key, params=NamespacePolicy().signal_params(self.base_knobs))
                self._namespaces[key] = state
                while len(self._namespaces) > self.max_namespaces:
                    self._namespaces.popitem(last=False)
            else:
                self._namespaces.move_to_end(key)
            state.last_used = self.monotonic()
        return state

    def _evict_idle(self) -> None:
        cutoff = self.monotonic() - self.idle_evict_s
        with self._registry_lock:
            idle = [key for key, state in self._namespaces.items() if state.last_used < cutoff]
            for key in idle:
                del self._namespaces[key]

    def cached_namespaces(self) -> list[Key]:
        """The namespaces this process keeps in memory, least recently used first."""
        with self._registry_lock:
            return list(self._namespaces)

    def _refresh_loop(self) -> None:
        next_trim = 0.0
        last_pass = -MIN_REFRESH_GAP_S
        while not self._stop.is_set():
            self._wake.wait(self.poll_interval_s)
            # A stream of event batches wakes the loop once per batch: one pass per gap serves
            # them all, well within the freshness promise. Other writes made here go at once.
            self._urgent.wait(max(0.0, last_pass + MIN_REFRESH_GAP_S - time.monotonic()))
            last_pass = time.monotonic()
            self._urgent.clear()
            self._wake.clear()
            self._evict_idle()
            if time.monotonic() >= next_trim:
                # Refreshes replace whole snapshots: give the old ones' pages back now and then.
                next_trim = time.monotonic() + TRIM_INTERVAL_S
                release_free_memory()
            with self._registry_lock:
                states = list(self._namespaces.values())
            for state in states:
                if self._stop.is_set():
                    return
                if state.served is None:
                    continue
                try:
                    with state.lock:
                        self._refresh(state, force_heavy=False)
                except Exception:  # keep serving the last good snapshot
                    log_failure(log, "snapshot refresh for %s/%s failed", *state.key)

    def _first_load(self, state: _Namespace) -> None:
        """Serve the namespace for the first time in this process: from the newest usable
        artifact plus the events after it, or built here (and published) by the one process
        that holds the namespace's build lock, while the others wait for its artifact."""
        try:
            self._first_load_steps(state)
        finally:
            # A first load frees hundreds of MiB of temporaries on a big namespace (the rows
            # read, a build's matrices): hand those pages back now rather than at the next
            # periodic trim.
            release_free_memory()

    def _first_load_steps(self, state: _Namespace) -> None:
        if self.shelf is None:
            self._refresh(state, force_heavy=True)
            return
        org_id, namespace = state.key
        deadline = self.monotonic() + BUILD_WAIT_S
        while not self._adopt_artifact(state):
            with self.shelf.build_lock(org_id, namespace) as builder:
                if builder:
                    # Someone may have published between the look above and taking the lock.
                    if self._adopt_artifact(state):
                        break
                    self._refresh(state, force_heavy=True)
                    self._publish(state)
                    return
            if self.monotonic() >= deadline:  # the builder is taking too long: build here
                self._refresh(state, force_heavy=True)
                return
            if state.loading and (state.interim is None or state.interim.notice != BUILDING_CHEAP):
                # Meanwhile serve what can be computed here without the heavy signals.
                self._load(state)
                assert state.catalog is not None
                cheap = self._assemble(state, version=None, reuse=no_heavy(state.catalog))
                self._offer_interim(state, cheap, BUILDING_CHEAP)
            self._stop.wait(ARTIFACT_POLL_S)
        self._refresh(state, force_heavy=False)

    def _signal_params_now(self, org_id: str, namespace: str) -> tuple[int | None, SignalParams]:
        with self.store.read() as conn:
            versions = namespace_versions(conn, org_id=org_id, namespace=namespace)
            policy = policy_from_rows(**load_policy_rows(conn, org_id=org_id, namespace=namespace))
        return (None if versions is None else versions.reset), policy.signal_params(self.base_knobs)

    def _newest_artifact(
        self, state: _Namespace, *, newer_than: str | None = None
    ) -> tuple[str, ArtifactContent] | None:
        assert self.shelf is not None
        org_id, namespace = state.key
        if state.versions is not None:  # loaded: the last refresh read them
            reset, params = state.versions.reset, state.params
        else:
            read_reset, params = self._signal_params_now(org_id, namespace)
            if read_reset is None:
                return None
            reset = read_reset
        fingerprint = _fingerprint(params)

        def usable(meta: Mapping[str, Any]) -> bool:
            return meta.get("reset") == reset and meta.get("heavy_params") == fingerprint

        return self.shelf.newest(org_id, namespace, usable, newer_than=newer_than)

    def _adopt_artifact(self, state: _Namespace) -> bool:
        """Take the event log and heavy signals of the newest usable artifact (caller holds
        state.lock; the namespace is not served yet)."""
        found = self._newest_artifact(state)
        if found is None:
            return False
        version, content = found
        state.events = content.events
        state.last_event_id = int(content.meta["last_event_id"])
        state.pending = content
        state.artifact_version = version
        log.info("snapshot for %s/%s loaded from artifact %s", *state.key, version)
        return True

    def _publish(self, state: _Namespace) -> None:
        """Write the namespace's event log and heavy signals as a new artifact version (caller
        holds state.lock and the build lock)."""
        assert self.shelf is not None and state.heavy is not None and state.versions is not None
        heavy = state.heavy
        content = ArtifactContent(
            events=state.events,
            item_ids=heavy.catalog.item_ids,
            covisitation=heavy.covisitation,
            item_model=heavy.item_model,
            user_factors=heavy.user_factors,
            item_vectors=heavy.item_vectors,
            vector_index=heavy.vector_index,
            heavy_event_count=heavy.event_count,
            meta={
                "last_event_id": state.last_event_id,
                "reset": state.versions.reset,
                "heavy_params": _fingerprint(state.params),
            },
        )
        try:
            state.artifact_version = self.shelf.publish(*state.key, content)
        except OSError:
            log.exception("snapshot artifact for %s/%s not written", *state.key)

    def _refresh(self, state: _Namespace, *, force_heavy: bool) -> None:
        """Load what changed and swap in a new snapshot. Caller holds state.lock."""
        started = time.perf_counter()
        if not self._load(state):
            return
        versions = state.versions
        assert state.catalog is not None
        if state.pending is not None:
            state.heavy = _heavy_from(state.pending, state.catalog, self.monotonic())
            state.pending = None
        reuse = None if force_heavy else state.heavy
        if reuse is not None and reuse.catalog is not state.catalog:
            # A catalogue edit: keep the heavy signals, re-indexed by item_id (cheap).
            reuse = state.heavy = remap_heavy(reuse, state.catalog)
        version = {"versions": versions, "events": len(state.events)}
        if reuse is None and state.loading and state.served is None:
            # A first load in the background: serve the cheap signals while the heavy ones are
            # computed, over the very same log.
            cheap = self._assemble(state, version=version, reuse=no_heavy(state.catalog))
            self._offer_interim(state, cheap, BUILDING_CHEAP)
            halflife = state.params.popularity_halflife_days
            snapshot = build_snapshot(
                catalog=cheap.catalog,
                users=cheap.users,
                log=cheap.log,
                params=state.params,
                reference_us=cheap.reference_us,
                version=version,
                strength=cheap.strength,
                popularity=(halflife, cheap.popularity(halflife).scores),
            )
        else:
            snapshot = self._assemble(state, version=version, reuse=reuse)
        if reuse is None or reuse.catalog is not snapshot.catalog:
            state.heavy = heavy_signals_of(snapshot, time.monotonic())
        if reuse is None:
            log.info(
                "snapshot for %s/%s built in %.2f s (%d events, %d items)",
                *state.key,
                time.perf_counter() - started,
                len(state.events),
                len(snapshot.catalog.item_ids),
            )
        state.served = Served(snapshot, state.policy)
        with state.progress:
            state.interim = None
            state.progress.notify_all()
        self._maybe_schedule_heavy(state, snapshot)

    def _load(self, state: _Namespace) -> bool:
        """Read what changed in the store since the last load (caller holds state.lock).
        False when nothing did and the namespace is served."""
        org_id, namespace = state.key
        with collection_paused(), self.store.read() as conn:
            versions = namespace_versions(conn, org_id=org_id, namespace=namespace)
            if state.served is not None and versions == state.versions:
                return False
            previous = state.versions
            if previous is None or versions is None or versions.policy != previous.policy:
                state.policy = policy_from_rows(
                    **load_policy_rows(conn, org_id=org_id, namespace=namespace)
                )
                params = state.policy.signal_params(self.base_knobs)
                if heavy_params(params) != heavy_params(state.params):
                    # Event types, co-visitation window or item-model settings changed. The
                    # new policy is served at once with the current heavy signals; they are
                    # rebuilt with the new parameters in the background (seconds on a big
                    # namespace), rather than holding every change up until then.
                    state.heavy_dirty = True
                state.params = params
            if previous is None or versions is None or versions.catalog != previous.catalog:
                state.catalog = self._catalogue(conn, state)
            if previous is None or versions is None or versions.users != previous.users:
                state.users = load_users(conn, org_id=org_id, namespace=namespace)
            if previous is not None and versions is not None and versions.reset != previous.reset:
                state.events, state.last_event_id = EventLog(), 0
            if state.loading and state.interim is None:
                # A first load in the background: the catalogue can be served before the events
                # are read (a long read on a big namespace).
                assert state.catalog is not None
                bare = assemble_snapshot(
                    catalog=state.catalog,
                    users=state.users,
                    events=EventLog(),
                    params=state.params,
                    reference_us=self.now_us(),
                    reuse=no_heavy(state.catalog),
                )
                self._offer_interim(state, bare, BUILDING_NO_EVENTS)
            # Streamed in chunks straight into the log's arrays: a first load of millions of
            # events never holds them all as Python rows.
            last_id = state.last_event_id

            def chunks() -> Iterator[EventBatch]:
                nonlocal last_id
                for batch in stream_events(
                    conn, org_id=org_id, namespace=namespace, after_id=last_id
                ):
                    last_id = int(batch.id[-1])
                    yield batch

            state.events.extend(chunks())
            state.last_event_id = last_id
        state.versions = versions
        state.as_of.clear()
        return True

    def _catalogue(self, conn: Connection, state: _Namespace) -> Catalog:
        """The catalogue as the store has it now, reading only the rows written since the last
        read (all of them the first time, or when items were deleted meanwhile)."""
        org_id, namespace = state.key
        builder, known = state.catalog_builder, state.items_version > 0

        def rows(after_version: int) -> list[dict[str, Any]]:
            return load_items(
                conn,
                org_id=org_id,
                namespace=namespace,
                after_version=after_version,
                columns=ITEM_FIELDS,
            )

        changed = rows(state.items_version)
        if known and builder.size_with(changed) != count_items(
            conn, org_id=org_id, namespace=namespace
        ):
            # Items were deleted (a deletion leaves no row to read): read them all.
            changed, known = rows(0), False
        newest = max((int(row["catalog_version"]) for row in changed), default=0)
        state.items_version = max(newest, state.items_version if known else 0)
        return builder.update(changed) if known else builder.build(changed)

    def _assemble(
        self, state: _Namespace, *, version: dict[str, Any] | None, reuse: HeavySignals | None
    ) -> Snapshot:
        """A snapshot of the namespace's current catalogue, users and events, with `reuse`'s
        heavy signals (caller holds state.lock)."""
        assert state.catalog is not None
        return assemble_snapshot(
            catalog=state.catalog,
            users=state.users,
            events=state.events,
            params=state.params,
            reference_us=self.now_us(),
            version=version,
            reuse=reuse,
            cache=state.cache,
        )

    def _maybe_schedule_heavy(self, state: _Namespace, snapshot: Snapshot) -> None:
        heavy = state.heavy
        if heavy is None or state.heavy_running:
            return
        grown = snapshot.log.size - heavy.event_count
        stale = (
            state.heavy_dirty
            or grown > HEAVY_GROWTH * max(heavy.event_count, 1)
            or (grown != 0 and time.monotonic() - heavy.built_at > HEAVY_MAX_AGE_S)
        )
        if stale:
            state.heavy_running = True
            self._heavy_queue.append(state.key)
            self._heavy_wake.set()

    def _heavy_loop(self) -> None:
        while not self._stop.is_set():
            self._heavy_wake.wait(self.poll_interval_s)
            self._heavy_wake.clear()
            while self._heavy_queue and not self._stop.is_set():
                key = self._heavy_queue.pop(0)
                state = self._namespaces.get(key)
                if state is None:
                    continue
                try:
                    self._rebuild_heavy(state)
                except Exception:
                    log_failure(log, "heavy signal rebuild for %s/%s failed", *key)
                finally:
                    state.heavy_running = False
                    release_free_memory()
                if state.heavy_dirty and not self._stop.is_set():
                    # Parameters changed again while it ran: build once more.
                    with state.lock:
                        if state.snapshot is not None:
                            self._maybe_schedule_heavy(state, state.snapshot)

    def _rebuild_heavy(self, state: _Namespace) -> None:
        if self.shelf is None:
            self._rebuild_heavy_here(state)
            return
        with self.shelf.build_lock(*state.key) as builder:
            if builder:
                self._rebuild_heavy_here(state)
                with state.lock:
                    if state.served is not None and not state.heavy_dirty:
                        self._publish(state)
                return
        # Another process builds this namespace: adopt its newer version when there is one.
        found = self._newest_artifact(state, newer_than=state.artifact_version)
        if found is None:
            return
        version, content = found
        with state.lock:
            if state.catalog is None or state.served is None:
                return
            state.heavy = _heavy_from(content, state.catalog, self.monotonic())
            state.heavy_dirty = False
            state.artifact_version = version
            snapshot = self._assemble(
                state, version=state.served.snapshot.version, reuse=state.heavy
            )
            state.served = Served(snapshot, state.policy)
        log.info("heavy signals for %s/%s taken from artifact %s", *state.key, version)

    def _rebuild_heavy_here(self, state: _Namespace) -> None:
        with state.lock:
            catalog, users, events = state.catalog, list(state.users), state.events.frozen()
            params = state.params
        if catalog is None:
            return
        # The expensive part runs outside the lock: requests and cheap refreshes go on.
        fresh = assemble_snapshot(
            catalog=catalog,
            users=users,
            events=events,
            params=params,
            reference_us=self.now_us(),
        )
        with state.lock:
            if heavy_params(state.params) != heavy_params(params):
                return  # parameters changed meanwhile: still dirty, built again
            state.heavy = heavy_signals_of(fresh, time.monotonic())
            state.heavy_dirty = False
            if state.catalog is not catalog:
                # The catalogue changed meanwhile: carry the fresh signals over to it.
                assert state.catalog is not None
                state.heavy = remap_heavy(state.heavy, state.catalog)
            snapshot = self._assemble(
                state,
                version=None if state.snapshot is None else state.snapshot.version,
                reuse=state.heavy,
            )
            state.served = Served(snapshot, state.policy)


def _fingerprint(params: SignalParams) -> str:
    """The heavy signals' parameters as a string an artifact's meta can carry."""
    return repr(heavy_params(params))


def _heavy_from(content: ArtifactContent, catalog: Catalog, built_at: float) -> HeavySignals:
    """An artifact's heavy signals on the current catalogue: as they are (mapped, shared with
    other processes) when the catalogue is the one they were built on, else re-indexed by
    item_id."""
    same = len(content.item_ids) == catalog.size and bool(
        np.all(content.item_ids == catalog.item_ids)
    )
    heavy = HeavySignals(
        catalog=catalog if same else build_catalog([{"item_id": i} for i in content.item_ids]),
        covisitation=content.covisitation,
        item_model=content.item_model,
        user_factors=content.user_factors,
        item_vectors=content.item_vectors,
        event_count=content.heavy_event_count,
        built_at=built_at,
        vector_index=content.vector_index,
    )
    return heavy if same else remap_heavy(heavy, catalog)


__all__ = ["BUILDING", "BuildOutcome", "Served", "SnapshotRegistry"]
