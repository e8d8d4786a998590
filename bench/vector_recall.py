"""How close the vector source's approximate search (the snapshot's vector index) comes to the
exact one: for a sample of the serving benchmark's users, the share of the exact NEIGHBOUR_FANOUT
most similar items that the indexed search proposes.

    .venv/bin/python bench/vector_recall.py --output bench/results/vector_recall.json
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import serving  # bench/serving.py: this script's directory is on sys.path
from machine import emit, machine_info

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--users", type=int, default=50000)
    parser.add_argument("--events", type=int, default=1000000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)

    from recsys.clock import to_micros
    from recsys.offline.synthetic import generate
    from recsys.ranking.candidates import top_indices
    from recsys.ranking.stage import build_context
    from recsys.ranking.stages.propose import NEIGHBOUR_FANOUT, VECTOR_POOL, nearest_by_vector
    from recsys.signals.vector_index import build_vector_index

    now_us = to_micros(NOW)
    dataset = generate(
        n_items=args.items, n_users=args.users, n_events=args.events, now=NOW, seed=args.seed
    )
    snapshot, _ = serving.build_snapshot_timed(dataset, now_us)
    index = snapshot.vector_index()
    vectors = snapshot.item_vectors
    if index is None or vectors is None:
        parser.error("no vector index at this catalogue size")
    started = time.perf_counter()
    build_vector_index(vectors, seed=snapshot.params.seed)  # timed again, alone
    build_seconds = time.perf_counter() - started
    sample = serving.user_sample(dataset, args.requests, 0.2, args.seed + 1)
    recalls, read = [], []
    for request in serving.rank_requests(snapshot, sample, k=20, now_us=now_us, overrides={}):
        context = build_context(snapshot, request)
        user_vector = context.signals.user_vector
        if user_vector is None:
            continue  # cold users have no vector to search with
        exact = set(top_indices(vectors @ user_vector, NEIGHBOUR_FANOUT).tolist())
        found = set(nearest_by_vector(context, user_vector).tolist())
        recalls.append(len(exact & found) / max(1, len(exact)))
        read.append(len(index.nearby(user_vector, VECTOR_POOL)))
    document = {
        "benchmark": "vector_recall",
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "machine": machine_info(serving.PACKAGES),
        "items": args.items,
        "events": args.events,
        "clusters": index.n_clusters,
        "index_build_seconds": round(build_seconds, 3),
        "users_with_vectors": len(recalls),
        "neighbours": NEIGHBOUR_FANOUT,
        "items_read_mean": round(float(np.mean(read)), 1),
        "recall_mean": round(float(np.mean(recalls)), 4),
        "recall_p5": round(float(np.percentile(recalls, 5)), 4),
        "recall_min": round(float(np.min(recalls)), 4),
    }
    emit(document, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
