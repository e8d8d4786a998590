"""Co-visitation between full builds: the pairs that new events make reach the served matrix at
the next refresh, computed from the new events' users alone, and summed step by step they are
exactly the pairs a computation over the whole log attributes to those events."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.data.catalog import build_catalog
from recsys.data.interactions import build_interaction_log
from recsys.signals.assemble import AssemblyCache, EventLog, assemble_snapshot
from recsys.signals.event_types import EventTypeTable, event_strength
from recsys.signals.recent_covisitation import RecentPairs, recent_pairs
from recsys.signals.snapshot import SignalParams, heavy_signals_of

NOW = 1_800_000_000_000_000
HOUR = 3_600_000_000


def dense(pairs: RecentPairs, n: int) -> np.ndarray:
    assert pairs.raw.shape == (n, n)
    return pairs.raw.toarray()


def test_step_by_step_equals_all_at_once() -> None:
    rng = np.random.default_rng(1)
    n_events, n_items, n_users = 400, 25, 12
    user = rng.integers(0, n_users, n_events)
    item = rng.integers(0, n_items, n_events)
    ts = NOW + np.sort(rng.integers(0, 200 * HOUR, n_events))  # arrivals in time order
    types = rng.integers(0, 4, n_events).astype(np.int8)
    value = np.ones(n_events, np.float32)

    def log_of(k: int) -> tuple[object, np.ndarray]:
        log = build_interaction_log(
            user=user[:k],
            item=item[:k],
            type=types[:k],
            value=value[:k],
            ts_us=ts[:k],
            n_users=n_users,
        )
        return log, event_strength(log.type, log.value, EventTypeTable())

    since = 150
    whole_log, whole_strength = log_of(n_events)
    at_once = recent_pairs(
        whole_log,
        whole_strength,
        previous=None,
        since=since,
        window_days=3.0,
        max_lag=3,
        n_items=n_items,
    )
    stepped = None
    for k in (200, 201, 260, 330, n_events):
        log, strength = log_of(k)
        stepped = recent_pairs(
            log,
            strength,
            previous=stepped,
            since=since,
            window_days=3.0,
            max_lag=3,
            n_items=n_items,
        )
    assert stepped is not None and stepped.covered == n_events
    assert np.allclose(dense(stepped, n_items), dense(at_once, n_items))
    # ... and they are the whole log's pairs minus those of the log before `since`.
    before_log, before_strength = log_of(since)
    everything = recent_pairs(
        whole_log,
        whole_strength,
        previous=None,
        since=0,
        window_days=3.0,
        max_lag=3,
        n_items=n_items,
    )
    older = recent_pairs(
        before_log,
        before_strength,
        previous=None,
        since=0,
        window_days=3.0,
        max_lag=3,
        n_items=n_items,
    )
    assert dense(at_once, n_items).sum() > 0
    assert np.allclose(dense(at_once, n_items), dense(everything, n_items) - dense(older, n_items))


def test_a_new_pair_is_served_at_the_next_refresh_without_a_full_build() -> None:
    catalog = build_catalog([{"item_id": f"i{k}"} for k in range(6)])
    events, cache = EventLog(), AssemblyCache()

    def add(user_id: str, item_id: str, hours: int) -> None:
        one = np.ones(1)
        events.append(
            user_id=[user_id],
            item_id=[item_id],
            type=3 * one.astype(np.int8),
            value=one,
            ts_us=[NOW + hours * HOUR],
        )

    for n, (u, i) in enumerate([("a", "i0"), ("a", "i1"), ("b", "i2"), ("b", "i3")]):
        add(u, i, n)
    params = SignalParams()

    def snapshot(reuse: object = None) -> object:
        return assemble_snapshot(
            catalog=catalog,
            users=[],
            events=events,
            params=params,
            reference_us=NOW,
            cache=cache,
            reuse=reuse,
        )

    heavy = heavy_signals_of(snapshot(), 0.0)
    window = params.covis_window_days
    i4, i5 = catalog.index["i4"], catalog.index["i5"]
    assert heavy.covisitation[i4, i5] == 0
    add("c", "i4", 10)
    add("c", "i5", 11)
    fresh = snapshot(heavy)
    assert fresh.covisitation(window)[i4, i5] > 0 and fresh.covisitation(window)[i5, i4] > 0
    i0, i1 = catalog.index["i0"], catalog.index["i1"]
    assert fresh.covisitation(window)[i0, i1] > 0  # the full build's pairs are still there
    add("c", "i0", 12)  # a later refresh extends the recent pairs
    later = snapshot(heavy)
    assert later.covisitation(window)[catalog.index["i5"], i0] > 0
    assert later.covisitation(window)[i4, i5] > 0


def test_added_to_is_the_full_matrix_plus_the_normalised_pairs() -> None:
    rng = np.random.default_rng(5)
    n = 30
    raw = sp.random(n, n, density=0.2, random_state=1, format="coo")
    raw = sp.csr_matrix((raw.data * 4, (raw.row, raw.col)), shape=(n, n))
    full = sp.random(n, n, density=0.3, random_state=2, format="csr", dtype=np.float32)
    occurrence = rng.uniform(0.5, 9.0, n)
    occurrence[3] = 0.0  # an item without strength: the floor, as the full build
    got = RecentPairs(since=0, covered=1, raw=raw).added_to(full, occurrence)
    norm = np.sqrt(np.maximum(occurrence, 1e-12))
    expected = full.toarray() + (raw.toarray() / np.outer(norm, norm)).astype(np.float32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.toarray(), expected)
