"""How the in-process cost of one ranking grows with the catalogue: the serving benchmark's
in-process part (bench/serving.py) at several catalogue sizes, one after the other in one
process, with the same request mix. Prints one JSON document; the headline is the p50 at each
size as a multiple of the p50 at the first.

    .venv/bin/python bench/catalogue_sweep.py --sizes 10000:50000:1000000,50000:200000:4000000 \\
        --output bench/results/catalogue_sweep.json
"""

from __future__ import annotations

import argparse
import gc
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import serving  # bench/serving.py: this script's directory is on sys.path
from machine import emit, machine_info

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    sizes = []
    for part in text.split(","):
        items, users, events = (int(v) for v in part.split(":"))
        if min(items, users, events) < 1:
            raise ValueError(part)
        sizes.append((items, users, events))
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10000:50000:1000000,50000:200000:4000000",
        help="items:users:events, comma-separated",
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--cold-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError:
        parser.error("--sizes takes items:users:events[,...] with positive numbers")

    from recsys.clock import to_micros
    from recsys.offline.synthetic import generate

    now_us = to_micros(NOW)
    document: dict = {
        "benchmark": "catalogue_sweep",
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "machine": machine_info(serving.PACKAGES),
        "k": args.k,
        "requests": args.requests,
        "cold_share": args.cold_share,
        "sizes": [],
    }
    for items, users, events in sizes:
        serving.log(f"{items} items, {users} users, {events} events")
        t0 = time.perf_counter()
        dataset = generate(n_items=items, n_users=users, n_events=events, now=NOW, seed=args.seed)
        generated = time.perf_counter() - t0
        snapshot, build = serving.build_snapshot_timed(dataset, now_us)
        sample = serving.user_sample(dataset, args.requests, args.cold_share, args.seed + 1)
        measured = serving.in_process_latency(
            snapshot, sample, k=args.k, now_us=now_us, overrides={}
        )
        serving.log(f"  p50 {measured['p50_ms']} ms, p99 {measured['p99_ms']} ms")
        document["sizes"].append(
            {
                "items": items,
                "users": users,
                "events": events,
                "generate_seconds": round(generated, 2),
                "snapshot_build_seconds": build["seconds_total"],
                "in_process": measured,
            }
        )
        del dataset, snapshot
        gc.collect()
    first = document["sizes"][0]["in_process"]["p50_ms"]
    document["p50_vs_first"] = [
        round(size["in_process"]["p50_ms"] / first, 3) for size in document["sizes"]
    ]
    emit(document, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
