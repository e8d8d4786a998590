"""The snapshot registry keeps a bounded set of namespaces: idle ones are dropped and rebuilt on
next use, and reads of many made-up namespaces cannot pile up state that is polled forever."""

from __future__ import annotations

from recsys.config.knobs import defaults
from recsys.service.snapshots import SnapshotRegistry
from recsys.store import Store


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def registry(store: Store, ticks: Ticks, **limits: float) -> SnapshotRegistry:
    return SnapshotRegistry(
        store,
        base_knobs=defaults(),
        now_us=lambda: 1_795_000_000_000_000,
        monotonic=ticks,
        **limits,  # type: ignore[arg-type]
    )


def test_idle_namespaces_are_dropped_and_rebuilt_on_use(store: Store, org: str) -> None:
    ticks = Ticks()
    snapshots = registry(store, ticks, idle_evict_s=60.0)
    snapshots.current(org, "a")
    ticks.now += 50
    snapshots.current(org, "b")
    ticks.now += 20  # "a" idle for 70 s, "b" for 20 s
    snapshots._evict_idle()
    assert snapshots.cached_namespaces() == [(org, "b")]
    served = snapshots.current(org, "a")  # rebuilt from the store, as on a first request
    assert served.snapshot.is_empty
    assert snapshots.cached_namespaces() == [(org, "b"), (org, "a")]


def test_at_most_max_namespaces_are_kept_least_recent_out(store: Store, org: str) -> None:
    ticks = Ticks()
    snapshots = registry(store, ticks, max_namespaces=3)
    for name in ("n1", "n2", "n3"):
        snapshots.current(org, name)
    snapshots.current(org, "n1")  # used again: now the most recent
    snapshots.current(org, "n4")
    assert snapshots.cached_namespaces() == [(org, "n3"), (org, "n1"), (org, "n4")]
