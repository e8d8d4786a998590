"""What a refresh costs a worker as the namespace grows: appending the new events to the last
log (what a refresh does now) against rebuilding the cheap signals from the whole log (what
every refresh did before, measured in the same run). In-process, on a synthetic event log with
uniformly drawn users and items; heavy signals are built once and reused, as a serving worker
does between full builds. Prints one JSON document (also written to --output).

    .venv/bin/python bench/refresh.py --events 1000000 --output bench/results/refresh.json

Cases, each timed --repeats times (median and max reported), every refresh bringing --batch new
events (a few tens of ms of traffic on a busy shop):
- `append`: events of known users on known items;
- `new_user`: the batch includes a user never seen before (the user table grows: re-index);
- `full_rebuild`: the same refresh without the kept log (every refresh before).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from machine import emit, machine_info  # bench/machine.py: this script's directory is on sys.path

PACKAGES = ("numpy", "scipy")
DAY_US = 86_400_000_000
NOW_US = 1_800_000_000_000_000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=10, help="events per refresh")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if min(args.events, args.items, args.users, args.batch, args.repeats) < 1:
        parser.error("sizes must be positive")

    from recsys.data.catalog import build_catalog
    from recsys.signals.assemble import AssemblyCache, EventLog, assemble_snapshot
    from recsys.signals.snapshot import SignalParams, heavy_signals_of

    rng = np.random.default_rng(args.seed)
    catalog = build_catalog(
        [{"item_id": f"i{k:06d}", "tags": [f"t{k % 50}"]} for k in range(args.items)]
    )
    users: list[dict[str, Any]] = []
    events = EventLog()
    clock = [NOW_US]

    def add(n: int, *, newcomer: str | None = None, history: bool = False) -> None:
        """`n` events: the initial history spread over 90 days, then each refresh's batch
        dated now (the clock moves 1 s per batch)."""
        user_ids = [f"u{k:07d}" for k in rng.integers(0, args.users, n)]
        if newcomer is not None:
            user_ids[0] = newcomer
        clock[0] += 1_000_000
        ages = rng.integers(0, 90 * DAY_US, n) if history else np.zeros(n, np.int64)
        events.append(
            user_id=user_ids,
            item_id=[f"i{k:06d}" for k in rng.integers(0, args.items, n)],
            type=rng.integers(0, 4, n).astype(np.int8),
            value=np.ones(n, np.float32),
            ts_us=clock[0] - ages,
        )

    add(args.events, history=True)
    params = SignalParams()
    started = time.perf_counter()
    first = assemble_snapshot(
        catalog=catalog, users=users, events=events, params=params, reference_us=clock[0]
    )
    build_s = time.perf_counter() - started
    heavy = heavy_signals_of(first, 0.0)
    cache = AssemblyCache()

    def refresh(kept: bool) -> float:
        t0 = time.perf_counter()
        assemble_snapshot(
            catalog=catalog,
            users=users,
            events=events,
            params=params,
            reference_us=clock[0],
            reuse=heavy,
            cache=cache if kept else AssemblyCache(),
        )
        return time.perf_counter() - t0

    # The first refresh keeps the log; the next one computes the popularity sums and the
    # item totals over the whole log once. From then on refreshes append.
    refresh(True)
    add(args.batch)
    refresh(True)

    def timed(prepare: Callable[[int], None], kept: bool) -> dict[str, float]:
        seconds = []
        for n in range(args.repeats):
            prepare(n)
            seconds.append(refresh(kept))
        return {
            "median_ms": round(1000 * statistics.median(seconds), 3),
            "max_ms": round(1000 * max(seconds), 3),
        }

    cases = {
        "append": timed(lambda n: add(args.batch), True),
        "new_user": timed(lambda n: add(args.batch, newcomer=f"new{n:05d}"), True),
        "full_rebuild": timed(lambda n: add(args.batch), False),
    }
    document = {
        "benchmark": "refresh",
        "command": " ".join(["bench/refresh.py", *(argv if argv is not None else sys.argv[1:])]),
        "sizes": {
            "events": len(events),
            "items": args.items,
            "users": args.users,
            "batch": args.batch,
            "repeats": args.repeats,
        },
        "first_build_s": round(build_s, 3),
        "refresh": cases,
        "speedup_append_vs_full": round(
            cases["full_rebuild"]["median_ms"] / max(cases["append"]["median_ms"], 1e-9), 1
        ),
        "machine": machine_info(PACKAGES),
    }
    emit(document, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
