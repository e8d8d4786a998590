"""What a catalogue edit costs a worker: rebuilding the heavy signals from scratch (what a refresh
did before) against re-indexing them by item id and rebuilding only the cheap ones (what it does
now). In-process, on a synthetic shop; prints one JSON document.

    .venv/bin/python bench/catalogue_edit.py --items 3000 --users 20000 --events 360000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from machine import machine_info  # bench/machine.py: this script's directory is on sys.path

PACKAGES = ("numpy", "scipy")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--events", type=int, default=360000)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)

    from recsys.clock import to_micros
    from recsys.data.catalog import build_catalog
    from recsys.offline.synthetic import generate
    from recsys.signals.assemble import EventLog, assemble_snapshot
    from recsys.signals.snapshot import SignalParams, heavy_signals_of, remap_heavy

    now = datetime(2026, 11, 1, tzinfo=UTC)
    shop = generate(
        n_items=args.items, n_users=args.users, n_events=args.events, now=now, seed=args.seed
    )
    items = [{**item, "created_at_us": 0} for item in shop.items]
    rows = shop.event_dicts(0, len(shop.events))
    log = EventLog()
    log.append(
        user_id=[e["user_id"] for e in rows],
        item_id=[e["item_id"] for e in rows],
        type=np.asarray([e["type"] for e in rows], np.int8),
        value=np.asarray([e["value"] for e in rows], np.float32),
        ts_us=np.asarray([to_micros(datetime.fromisoformat(e["ts"])) for e in rows]),
    )
    reference = to_micros(now)

    def build(catalog: object, reuse: object = None) -> object:
        return assemble_snapshot(
            catalog=catalog,  # type: ignore[arg-type]
            users=shop.users,
            events=log,
            params=SignalParams(),
            reference_us=reference,
            reuse=reuse,  # type: ignore[arg-type]
        )

    t0 = time.perf_counter()
    snapshot = build(build_catalog(items))
    full = time.perf_counter() - t0
    heavy = heavy_signals_of(snapshot, 0.0)  # type: ignore[arg-type]
    edited = list(items)
    edited[5] = {**edited[5], "available": False}  # the edit: one item goes out of stock
    t1 = time.perf_counter()
    catalog = build_catalog(edited)
    t2 = time.perf_counter()
    moved = remap_heavy(heavy, catalog)
    t3 = time.perf_counter()
    build(catalog, moved)
    t4 = time.perf_counter()
    document = {
        "benchmark": "catalogue_edit",
        "command": " ".join([sys.executable, *sys.argv]),
        "machine": machine_info(PACKAGES),
        "dataset": {"items": args.items, "users": args.users, "events": args.events},
        "seconds": {
            "full_build": round(full, 3),
            "catalog": round(t2 - t1, 3),
            "remap_heavy": round(t3 - t2, 3),
            "cheap_rebuild": round(t4 - t3, 3),
            "edit_total": round(t4 - t1, 3),
        },
    }
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
