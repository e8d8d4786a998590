"""Serving performance of `POST /v1/recommendations`: snapshot build, in-process ranking, HTTP.

The scenario defaults to the issue's: 10k items, 50k users, 1M events (the deterministic
synthetic shop of `recsys.offline.synthetic`), k=20, popularity fan-out 500, MMR on (the default
mmr_lambda 0.7). One run:

1. generates the dataset (fixed seed, fixed `--now`; nothing depends on the wall clock);
2. **snapshot build**: builds the snapshot in-process exactly as the serving registry does
   (`build_catalog`, `EventLog.append`, `assemble_snapshot` with `SignalParams()`), timing each
   step (the signal builders are wrapped for the breakdown) and measuring memory (RSS delta,
   peak, and the bytes of the snapshot's arrays);
3. **in-process latency**: `build_pipeline().run(snapshot, request)` for `--requests`
   requests, single-threaded, over a deterministic user sample (mostly users with events, a
   `--cold-share` of cold users: half unknown ids, half known users without events);
4. **HTTP** (unless `--skip-http`): loads the dataset straight into a fresh SQLite file through
   the store repositories, starts the real `recsys serve` (`running_server`, `--workers`),
   times the first request (it builds the worker's snapshot), warms every worker, then drives
   `POST /v1/recommendations` at fixed concurrency from client *processes* (one keep-alive
   `http.client` connection each, bodies serialised beforehand) for `--duration` seconds or
   `--http-requests` requests. Reports throughput, latency percentiles, errors (any non-200),
   CPU used by server / clients / anything else on the machine;
5. **profile** (unless `--profile-requests 0`): the same request path in-process through the
   ASGI app (no sockets): as served, with the threadpool hops replaced by inline calls, and
   under cProfile for a breakdown by share (validation, dependencies, pipeline stages,
   response building and serialisation incl. `trace`, threadpool).

Prints one JSON document (and writes it to `--output`). `--workers` and `--concurrency` take
comma-separated lists to sweep (one server per workers value, runs in sequence). Each HTTP run
records the CPU used by the server, the clients and everything else on the machine; a run in
which other processes used > 5% of the machine is `disturbed` and, with `--attempts N`, is
repeated. `--db FILE` keeps the loaded SQLite file for later runs; `--server-env NAME=VALUE`
passes settings to the server (e.g. `AUDIT_DECISIONS_SAMPLE=0`). Loopback only; sizes, request
counts and run time are bounded. Exit status 1 when an HTTP run had errors or a part failed.

The server ranks with its own wall clock (it has no clock setting), so the default `--now` lies
in the past: every generated event is then visible to it. In-process figures use `--now`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import math
import multiprocessing as mp
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson

from machine import (  # bench/machine.py: this script's directory is on sys.path
    emit,
    int_list,
    machine_info,
    system_busy,
    wait_until_quiet,
)

PACKAGES = (
    "numpy",
    "scipy",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
)

HOST = "127.0.0.1"
PATH = "/v1/recommendations"
NAMESPACE = "bench"
ORG_ID = "00000000-0000-4000-8000-00000000be7c"
DEFAULT_NOW = "2026-11-25T00:00:00Z"
SURFACE = "home"

MAX_ITEMS = 200_000
MAX_USERS = 1_000_000
MAX_EVENTS = 5_000_000
MAX_REQUESTS = 200_000
MAX_CONCURRENCY = 64
MAX_WORKERS = 8
MAX_DURATION_S = 300.0
HTTP_BODIES = 20_000  # distinct pre-serialised bodies, cycled by the clients
LOAD_CHUNK = 50_000  # events per store transaction while loading SQLite

# Targets from the issue ("Serving at the framework's speed").
TARGET_INPROCESS_P50_MS = 1.5
TARGET_INPROCESS_P99_MS = 4.0
TARGET_HTTP_SHARE_OF_CEILING = 0.5
TARGET_HTTP_P99_MS = 50.0

# No auth, no rate limit: the benchmark measures ranking, not the limiter.
SERVER_ENV = {"API_AUTH_ENABLED": "false", "API_RATE_LIMIT_RPM": "0", "PYTHONUNBUFFERED": "1"}


def log(message: str) -> None:
    print(f"[serving] {message}", file=sys.stderr, flush=True)


# --- small helpers --------------------------------------------------------------------------


def parse_now(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a timezone (e.g. ...Z)")
    return moment


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not len(sorted_values):
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[rank - 1])


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    values = sorted(seconds)
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "mean_ms": round(1000 * sum(values) / len(values), 3),
        "p50_ms": round(1000 * percentile(values, 0.50), 3),
        "p90_ms": round(1000 * percentile(values, 0.90), 3),
        "p99_ms": round(1000 * percentile(values, 0.99), 3),
        "max_ms": round(1000 * values[-1], 3),
    }


def proc_status_kb(field: str, pid: int | str = "self") -> int | None:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), or None."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def mib(n_bytes: float) -> float:
    return round(n_bytes / 2**20, 1)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (uvicorn --workers N spawns N worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parent = int(stat[stat.rindex(")") + 2 :].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc/<pid>/stat (0 when it is gone)."""
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


# --- dataset and workload -------------------------------------------------------------------


def item_rows(dataset: Any) -> list[dict[str, Any]]:
    """The dataset's item dicts with `created_at_us` (what the store hands to build_catalog)."""
    from recsys.clock import to_micros

    return [
        {**item, "created_at_us": to_micros(datetime.fromisoformat(item["created_at"]))}
        for item in dataset.items
    ]


@dataclass(frozen=True)
class UserSample:
    user_ids: list[str]
    kinds: list[str]  # "active" (has events), "known_no_events", "unknown"


def user_sample(dataset: Any, n: int, cold_share: float, seed: int) -> UserSample:
    """A deterministic request mix: (1 - cold_share) users with events (uniform), the rest cold:
    half ids the service has never seen, half known users without events (if there are any)."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(dataset.events.user_index, minlength=len(dataset.users))
    active = np.flatnonzero(counts > 0)
    inactive = np.flatnonzero(counts == 0)
    ids = [u["user_id"] for u in dataset.users]
    draws = rng.random(n)
    picks_active = rng.integers(len(active), size=n) if len(active) else None
    picks_inactive = rng.integers(len(inactive), size=n) if len(inactive) else None
    user_ids: list[str] = []
    kinds: list[str] = []
    for j in range(n):
        cold = draws[j] < cold_share or picks_active is None
        if cold and (picks_inactive is None or draws[j] < cold_share / 2):
            user_ids.append(f"anon-{seed}-{j:06d}")
            kinds.append("unknown")
        elif cold:
            assert picks_inactive is not None
            user_ids.append(ids[int(inactive[picks_inactive[j]])])
            kinds.append("known_no_events")
        else:
            assert picks_active is not None
            user_ids.append(ids[int(active[picks_active[j]])])
            kinds.append("active")
    return UserSample(user_ids, kinds)


def overrides_for(args: argparse.Namespace) -> dict[str, Any]:
    """Request overrides: only the knobs whose asked value differs from the default."""
    from recsys.config.knobs import defaults

    knobs = defaults()
    out: dict[str, Any] = {}
    if args.fanout != knobs["popularity_fanout"]:
        out["popularity_fanout"] = args.fanout
    if args.mmr_lambda != knobs["mmr_lambda"]:
        out["mmr_lambda"] = args.mmr_lambda
    return out


# --- 2. snapshot build ----------------------------------------------------------------------


@contextlib.contextmanager
def timed_calls(targets: Sequence[tuple[Any, str, str]], totals: dict[str, float]) -> Iterator:
    """Replace module attributes by wrappers that add their wall time to totals[label]."""
    saved = []
    for module, name, label in targets:
        original = getattr(module, name)

        def wrapper(*a: Any, _f: Callable = original, _l: str = label, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return _f(*a, **kw)
            finally:
                totals[_l] = totals.get(_l, 0.0) + time.perf_counter() - started

        saved.append((module, name, original))
        setattr(module, name, wrapper)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def _array_bytes(value: Any) -> int:
    import scipy.sparse as sp

    if value is None:
        return 0
    if isinstance(value, np.ndarray):
        if value.dtype == object:  # pointers plus the objects they point to
            return value.nbytes + sum(sys.getsizeof(v) for v in value.tolist())
        return value.nbytes
    if sp.issparse(value):
        return sum(getattr(value, a).nbytes for a in ("data", "indices", "indptr"))
    return 0


def snapshot_memory(snapshot: Any) -> dict[str, Any]:
    """Bytes held by the snapshot's arrays, by part; Python-object tables estimated apart."""
    catalog, log_, users = snapshot.catalog, snapshot.log, snapshot.users
    parts = {
        "catalog_arrays": sum(
            _array_bytes(getattr(catalog, name))
            for name in (
                "available",
                "price",
                "brand",
                "category",
                "created_at_us",
                "features",
                "embeddings",
                "tag_mask",
            )
        ),
        "catalog_item_ids": _array_bytes(catalog.item_ids),
        "interaction_log": sum(
            _array_bytes(getattr(log_, name))
            for name in ("user", "item", "type", "value", "ts_us", "order", "offsets")
        ),
        "event_strength": _array_bytes(snapshot.strength),
        "item_vectors": _array_bytes(snapshot.item_vectors),
    }
    memo: dict[str, int] = {}
    for key, built in snapshot._memo.items():
        kind = key[0]
        if kind == "popularity":
            memo[kind] = memo.get(kind, 0) + _array_bytes(built.scores) + _array_bytes(built.order)
        elif kind == "item_model":
            memo[kind] = (
                memo.get(kind, 0)
                + _array_bytes(built.weights)
                + _array_bytes(built.head)
                + _array_bytes(built.position)
            )
        else:
            memo[kind] = memo.get(kind, 0) + _array_bytes(built)
    parts.update({f"memo_{k}": v for k, v in memo.items()})
    python_objects = (
        sys.getsizeof(catalog.index)
        + sys.getsizeof(users.index)
        + sys.getsizeof(users.user_ids)
        + sum(sys.getsizeof(u) for u in users.user_ids)
        + sys.getsizeof(users.traits)
        + sum(sys.getsizeof(t) for t in users.traits)
    )
    return {
        "array_bytes_total": sum(parts.values()),
        "array_mib_total": mib(sum(parts.values())),
        "array_bytes_by_part": parts,
        "python_tables_bytes_estimate": python_objects,
        "covisitation_nnz": int(snapshot.covisitation(snapshot.params.covis_window_days).nnz),
        "vector_source": snapshot.vector_source,
    }


def build_snapshot_timed(dataset: Any, now_us: int) -> tuple[Any, dict[str, Any]]:
    """Build the snapshot the way the serving registry does, with a breakdown and memory."""
    import recsys.signals.assemble as assemble_mod
    import recsys.signals.snapshot as snapshot_mod
    from recsys.data.catalog import build_catalog
    from recsys.signals.assemble import EventLog, assemble_snapshot
    from recsys.signals.snapshot import SignalParams

    gc.collect()
    rss0 = proc_status_kb("VmRSS") or 0
    peak_reset = reset_peak_rss()
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    rows = item_rows(dataset)
    t1 = time.perf_counter()
    catalog = build_catalog(rows)
    t2 = time.perf_counter()
    ev = dataset.events
    item_ids = [item["item_id"] for item in dataset.items]
    user_ids = [user["user_id"] for user in dataset.users]
    event_users = [user_ids[i] for i in ev.user_index.tolist()]
    event_items = [item_ids[i] for i in ev.item_index.tolist()]
    t3 = time.perf_counter()
    events = EventLog()
    events.append(
        user_id=event_users, item_id=event_items, type=ev.type, value=ev.value, ts_us=ev.ts_us
    )
    del event_users, event_items
    t4 = time.perf_counter()
    inner: dict[str, float] = {}
    targets = [
        (assemble_mod, "build_interaction_log", "interaction_log"),
        (snapshot_mod, "event_strength", "event_strength"),
        (snapshot_mod, "learn_item_vectors", "item_vectors"),
        (snapshot_mod, "popularity_scores", "popularity"),
        (snapshot_mod, "descending_order", "popularity"),
        (snapshot_mod, "covisitation_matrix", "covisitation"),
        (snapshot_mod, "fit_item_model", "item_model"),
        (snapshot_mod, "fit_user_factors", "user_factors"),
    ]
    with timed_calls(targets, inner):
        snapshot = assemble_snapshot(
            catalog=catalog,
            users=dataset.users,
            events=events,
            params=SignalParams(),
            reference_us=now_us,
        )
    t5 = time.perf_counter()
    gc.collect()
    rss1 = proc_status_kb("VmRSS") or 0
    peak = proc_status_kb("VmHWM") if peak_reset else None

    assemble_s = t5 - t4
    seconds = {
        "item_rows_created_at": t1 - t0,
        "catalog": t2 - t1,
        "event_id_strings": t3 - t2,
        "event_log_append": t4 - t3,
        "interaction_log": inner.get("interaction_log", 0.0),
        "event_strength": inner.get("event_strength", 0.0),
        "item_vectors": inner.get("item_vectors", 0.0),
        "popularity": inner.get("popularity", 0.0),
        "covisitation": inner.get("covisitation", 0.0),
        "item_model": inner.get("item_model", 0.0),
        "user_factors": inner.get("user_factors", 0.0),
    }
    seconds["user_table_and_id_mapping"] = assemble_s - sum(inner.values())
    total = t5 - t0
    report = {
        "seconds_total": round(total, 3),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "seconds_grouped": {
            # "log" = what the registry does with the rows it loaded from the store.
            "catalog": round(seconds["item_rows_created_at"] + seconds["catalog"], 3),
            "log": round(
                seconds["event_id_strings"]
                + seconds["event_log_append"]
                + seconds["user_table_and_id_mapping"]
                + seconds["interaction_log"]
                + seconds["event_strength"],
                3,
            ),
            "popularity": round(seconds["popularity"], 3),
            "covisitation": round(seconds["covisitation"], 3),
            "vectors": round(seconds["item_vectors"], 3),
            "item_model": round(seconds["item_model"], 3),
            "user_factors": round(seconds["user_factors"], 3),
        },
        "memory": {
            "rss_before_mib": mib(rss0 * 1024),
            "rss_after_mib": mib(rss1 * 1024),
            # Everything the build keeps alive: catalogue, EventLog (vocabularies + arrays),
            # snapshot; the dataset itself was already in memory before.
            "rss_delta_mib": mib((rss1 - rss0) * 1024),
            "peak_rss_during_build_mib": mib(peak * 1024) if peak else None,
            **snapshot_memory(snapshot),
        },
        "catalog": {
            "items": catalog.size,
            "features": len(catalog.feature_names),
            "brands": len(catalog.brand_names),
            "categories": len(catalog.category_names),
        },
        "users": snapshot.users.size,
        "events_in_log": snapshot.log.size,
    }
    return snapshot, report


# --- 3. in-process latency ------------------------------------------------------------------


def rank_requests(
    snapshot: Any, sample: UserSample, *, k: int, now_us: int, overrides: dict[str, Any]
) -> list[Any]:
    """The requests the route would build (the one request builder, a namespace without
    stored config, segments or rules)."""
    from recsys.config.knobs import defaults, parse_overrides
    from recsys.policy.namespace import NamespacePolicy
    from recsys.ranking.builder import build_request

    policy, knobs, parsed = NamespacePolicy(), defaults(), parse_overrides(overrides)
    return [
        build_request(
            snapshot,
            policy,
            base_knobs=knobs,
            now_us=now_us,
            k=k,
            user_id=user_id,
            surface=SURFACE,
            overrides=parsed,
        ).request
        for user_id in sample.user_ids
    ]


def in_process_latency(
    snapshot: Any, sample: UserSample, *, k: int, now_us: int, overrides: dict[str, Any]
) -> dict[str, Any]:
    from recsys.ranking import build_pipeline

    pipeline = build_pipeline()
    requests = rank_requests(snapshot, sample, k=k, now_us=now_us, overrides=overrides)
    for request in requests[: min(50, len(requests))]:  # warm caches and lazy imports
        pipeline.run(snapshot, request)
    latencies: list[float] = []
    returned: list[int] = []
    gc.collect()
    busy0, usage0 = system_busy(), resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for request in requests:
        t0 = time.perf_counter()
        result = pipeline.run(snapshot, request)
        latencies.append(time.perf_counter() - t0)
        returned.append(len(result.items))
    elapsed = time.perf_counter() - started
    busy1, usage1 = system_busy(), resource.getrusage(resource.RUSAGE_SELF)
    own_s = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    other_s = (busy1[0] - busy0[0]) / os.sysconf("SC_CLK_TCK") - own_s
    stages = stage_breakdown(snapshot, requests)
    by_kind: dict[str, list[float]] = {}
    for kind, seconds in zip(sample.kinds, latencies, strict=True):
        by_kind.setdefault(kind, []).append(seconds)
    return {
        "requests": len(requests),
        "threads": 1,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(requests) / elapsed, 1),
        **latency_summary(latencies),
        "by_user_kind": {kind: latency_summary(v) for kind, v in sorted(by_kind.items())},
        "items_returned_min": min(returned) if returned else None,
        "short_answers": sum(1 for n in returned if n < k),
        "meets_target_p50": percentile(sorted(latencies), 0.5) * 1000 <= TARGET_INPROCESS_P50_MS,
        "meets_target_p99": percentile(sorted(latencies), 0.99) * 1000 <= TARGET_INPROCESS_P99_MS,
        "stages_wall": stages,
        # CPU used by other processes meanwhile; with more than one core's worth of it, this
        # single-threaded loop had to share its core and the figures are disturbed.
        "other_cpu_s": round(other_s, 2),
        "disturbed": other_s > elapsed * max(1, (os.cpu_count() or 1) - 1),
    }


def override_sweep(
    snapshot: Any, sample: UserSample, *, k: int, now_us: int, per_value: int = 100
) -> dict[str, Any]:
    """Every request-level numeric knob at both ends of its range, `per_value` requests each:
    the latency of requests carrying an override, and whether any of them built a signal on
    the request path (which would stall the worker for everyone behind it)."""
    from recsys.config.knobs import KNOBS
    from recsys.ranking import build_pipeline

    pipeline = build_pipeline()
    knobs = [k for k in KNOBS if k.scope == "request" and k.kind in ("int", "float")]
    users = UserSample(sample.user_ids[:per_value], sample.kinds[:per_value])
    built = snapshot.signals_built()
    per_knob: dict[str, Any] = {}
    everything: list[float] = []
    for knob in knobs:
        for end in (knob.minimum, knob.maximum):
            value = int(end) if knob.kind == "int" else float(end)
            requests = rank_requests(
                snapshot, users, k=k, now_us=now_us, overrides={knob.key: value}
            )
            latencies = []
            for request in requests:
                t0 = time.perf_counter()
                pipeline.run(snapshot, request)
                latencies.append(time.perf_counter() - t0)
            everything.extend(latencies)
            per_knob[f"{knob.key}={value}"] = {
                "p99_ms": round(1000 * percentile(sorted(latencies), 0.99), 3),
                "max_ms": round(1000 * max(latencies), 3),
            }
    worst = max(per_knob.items(), key=lambda kv: kv[1]["p99_ms"])
    return {
        "knobs": len(knobs),
        "requests": len(everything),
        **latency_summary(everything),
        "worst_p99": {"override": worst[0], **worst[1]},
        "meets_target_p99": worst[1]["p99_ms"] <= TARGET_INPROCESS_P99_MS,
        "signals_built_on_the_request_path": sorted(
            str(key) for key in snapshot.signals_built() - built
        ),
        "per_override": per_knob,
    }


T = TypeVar("T")


class StageTimer:
    """A stage observer for `Pipeline.run`: wall time and calls of every step of a run (the
    request's context, each stage by name, the final assembly)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def __call__(self, name: str, step: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            return step(*args)
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
            self.calls[name] = self.calls.get(name, 0) + 1


def stage_breakdown(snapshot: Any, requests: Sequence[Any]) -> dict[str, Any]:
    """Wall time per pipeline step, measured by a stage observer (no profiler, no patching):
    "context", every stage in pipeline order, "assemble"; "run_rest_ms" is what Pipeline.run
    spends outside its steps."""
    from recsys.ranking import build_pipeline

    pipeline = build_pipeline()
    timer = StageTimer()
    run_s = 0.0
    for request in requests:
        started = time.perf_counter()
        pipeline.run(snapshot, request, observer=timer)
        run_s += time.perf_counter() - started
    n = len(requests)
    return {
        "requests": n,
        "run_ms": round(1000 * run_s / n, 4),
        "ms_per_request": {name: round(1000 * s / n, 4) for name, s in timer.seconds.items()},
        "calls_per_request": {name: round(c / n, 2) for name, c in timer.calls.items()},
        "run_rest_ms": round(1000 * (run_s - sum(timer.seconds.values())) / n, 4),
    }


# --- 4. HTTP: load the store, run the server, drive it --------------------------------------


def load_store(dataset: Any, url: str, now_us: int) -> dict[str, Any]:
    """The dataset into the store through the repositories (not over HTTP), in chunks."""
    from recsys.offline.synthetic import SURFACES
    from recsys.store import Store
    from recsys.store import repositories as repo

    started = time.perf_counter()
    store = Store.from_url(url, migrate=True)
    try:
        rows = item_rows(dataset)
        items = [
            {
                "item_id": r["item_id"],
                "available": r.get("available", True),
                "price": r.get("price"),
                "brand": r.get("brand"),
                "category": r.get("category"),
                "category_path": r.get("category_path") or [],
                "tags": r.get("tags") or [],
                "props": r.get("props") or {},
                "embedding": None,
                "title": r.get("title"),
                "description": r.get("description"),
                "created_at_us": r["created_at_us"],
                "updated_at_us": now_us,
            }
            for r in rows
        ]
        users = [
            {
                "user_id": u["user_id"],
                "traits": u.get("traits") or {},
                "created_at_us": now_us,
                "updated_at_us": now_us,
            }
            for u in dataset.users
        ]
        with store.write() as conn:
            repo.ensure_namespace(conn, org_id=ORG_ID, namespace=NAMESPACE, now_us=now_us)
            for lo in range(0, len(items), LOAD_CHUNK):
                repo.upsert_items(
                    conn,
                    org_id=ORG_ID,
                    namespace=NAMESPACE,
                    rows=items[lo : lo + LOAD_CHUNK],
                    replace_created_at=True,
                )
            for lo in range(0, len(users), LOAD_CHUNK):
                repo.upsert_users(
                    conn, org_id=ORG_ID, namespace=NAMESPACE, rows=users[lo : lo + LOAD_CHUNK]
                )
        catalog_s = time.perf_counter() - started

        ev = dataset.events
        item_ids = [item["item_id"] for item in dataset.items]
        user_ids = [user["user_id"] for user in dataset.users]
        seed = dataset.seed
        inserted = 0
        for lo in range(0, len(ev), LOAD_CHUNK):
            hi = min(lo + LOAD_CHUNK, len(ev))
            chunk = [
                {
                    "event_id": f"ev-{seed}-{n}",
                    "user_id": user_ids[u],
                    "item_id": item_ids[i],
                    "type": t,
                    "value": v,
                    "ts_us": ts,
                    "meta": {"surface": SURFACES[s], "session_id": f"s-{seed}-{session}"},
                }
                for n, u, i, t, v, ts, s, session in zip(
                    range(lo, hi),
                    ev.user_index[lo:hi].tolist(),
                    ev.item_index[lo:hi].tolist(),
                    ev.type[lo:hi].tolist(),
                    ev.value[lo:hi].tolist(),
                    ev.ts_us[lo:hi].tolist(),
                    ev.surface[lo:hi].tolist(),
                    ev.session_index[lo:hi].tolist(),
                    strict=True,
                )
            ]
            with store.write() as conn:
                inserted += repo.insert_events(conn, org_id=ORG_ID, namespace=NAMESPACE, rows=chunk)
    finally:
        store.close()
    database = Path(url.removeprefix("sqlite:///"))
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "catalog_and_users_seconds": round(catalog_s, 2),
        "items": len(items),
        "users": len(users),
        "events_inserted": inserted,
        "database_mib": mib(
            sum(p.stat().st_size for p in database.parent.glob(database.name + "*"))
        ),
    }


def stored_counts(url: str, last_event_id: str) -> dict[str, int] | None:
    """Rows of the benchmark namespace in an existing store, and whether the dataset's last
    event id (which names the seed) is there; None if the store has no schema yet."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from recsys.store import Store

    store = Store.from_url(url, migrate=False)
    try:
        with store.read() as conn:
            out = {}
            for table in ("items", "users", "events"):
                out[table] = int(
                    conn.execute(
                        text(f"SELECT count(*) FROM {table} WHERE org_id = :o AND namespace = :n"),
                        {"o": ORG_ID, "n": NAMESPACE},
                    ).scalar_one()
                )
            out["last_event_present"] = int(
                conn.execute(
                    text("SELECT count(*) FROM events WHERE org_id = :o AND event_id = :e"),
                    {"o": ORG_ID, "e": last_event_id},
                ).scalar_one()
            )
            return out
    except OperationalError:
        return None
    finally:
        store.close()


def request_bodies(sample: UserSample, *, k: int, overrides: dict[str, Any]) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "namespace": NAMESPACE,
                "user_id": user_id,
                "k": k,
                "surface": SURFACE,
                "overrides": overrides,
            }
        )
        for user_id in sample.user_ids
    ]


_HEADERS = {"Content-Type": "application/json", "X-Org-ID": ORG_ID}
# Filled in before the client processes fork: the children share them copy-on-write.
_BODIES: list[bytes] = []


def _connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.connect()  # http.client sets TCP_NODELAY
    return conn


def _post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", PATH, body=body, headers=_HEADERS)
    response = conn.getresponse()
    return response.status, response.read()


@dataclass(frozen=True)
class ClientJob:
    port: int
    client: int
    clients: int
    warmup: int  # untimed requests on the connection before the barrier
    duration: float
    quota: int | None  # requests this client sends (None: until the duration is over)


def _client_main(job: ClientJob, barrier: Any, results: Any) -> None:
    gc.disable()  # a few thousand floats: no collections inside the timed loop
    out: dict[str, Any] = {"client": job.client, "errors": [], "warmup_max_s": 0.0}
    latencies: list[float] = []
    conn: http.client.HTTPConnection | None = None
    n = len(_BODIES)
    index = job.client
    try:
        conn = _connect(job.port)
        for _ in range(job.warmup):
            t0 = time.perf_counter()
            status, data = _post(conn, _BODIES[index % n])
            out["warmup_max_s"] = max(out["warmup_max_s"], time.perf_counter() - t0)
            index += job.clients
            if status != 200:
                out["errors"].append(f"warm-up: HTTP {status}: {data[:200]!r}")
    except Exception as exc:
        out["errors"].append(f"warm-up: {type(exc).__name__}: {exc}")
        conn = None
    barrier.wait(timeout=600)

    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    end = started + job.duration
    http_errors = exceptions = 0
    sent = 0
    while conn is not None and time.perf_counter() < end:
        if job.quota is not None and sent >= job.quota:
            break
        body = _BODIES[index % n]
        index += job.clients
        sent += 1
        t0 = time.perf_counter()
        try:
            status, data = _post(conn, body)
        except Exception as exc:
            exceptions += 1
            if len(out["errors"]) < 5:
                out["errors"].append(f"{type(exc).__name__}: {exc}")
            conn.close()
            try:
                conn = _connect(job.port)
            except OSError:
                conn = None
            continue
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            http_errors += 1
            if len(out["errors"]) < 5:
                out["errors"].append(f"HTTP {status}: {data[:200]!r}")
    finished = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_SELF)
    if conn is not None:
        conn.close()
    out.update(
        latencies=latencies,
        sent=sent,
        http_errors=http_errors,
        exceptions=exceptions,
        error_count=http_errors + exceptions,
        started=started,  # perf_counter is CLOCK_MONOTONIC: comparable across processes
        finished=finished,
        cpu_s=(after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
    )
    results.put(out)


# The server's warning on lists ranked before a namespace's signals are complete.
BUILDING = b"signals still building"


def first_request(port: int, body: bytes) -> dict[str, Any]:
    """The first request's latency and whether its list was ranked with complete signals;
    then, asking again on the same connection, how long until one is (`complete_after_s`)."""
    conn = _connect(port)
    try:
        t0 = time.perf_counter()
        status, data = _post(conn, body)
        seconds = time.perf_counter() - t0
        complete = status == 200 and BUILDING not in data
        asked = 1
        while not complete and status == 200 and time.perf_counter() - t0 < 600:
            status, later = _post(conn, body)
            complete, asked = BUILDING not in later, asked + 1
        complete_after = time.perf_counter() - t0
    finally:
        conn.close()
    answer = orjson.loads(data) if status == 200 else {}
    return {
        "status": status,
        "seconds": round(seconds, 3),
        "complete": BUILDING not in data,
        "warnings": answer.get("warnings", []),
        "complete_after_s": round(complete_after, 3),
        "requests_until_complete": asked,
        "items": len(answer.get("items", [])),
        "response_bytes": len(data),
        "trace_bytes": len(orjson.dumps(answer.get("trace"))) if answer else None,
    }


def warm_workers(port: int, workers: int, bodies: Sequence[bytes]) -> dict[str, Any]:
    """Bursts of concurrent fresh connections until two bursts in a row answer fast with
    complete lists: each worker loads its snapshot on its first request, and which worker
    accepts a connection is the kernel's choice."""
    started = time.perf_counter()
    burst = 4 * workers
    fast_in_a_row, bursts, slowest = 0, 0, []
    statuses: set[int] = set()

    def one(j: int) -> tuple[int, float, bool]:
        conn = _connect(port)
        try:
            t0 = time.perf_counter()
            status, data = _post(conn, bodies[j % len(bodies)])
            return status, time.perf_counter() - t0, BUILDING not in data
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=burst) as pool:
        while fast_in_a_row < 2 and time.perf_counter() - started < 300:
            answers = list(pool.map(one, range(bursts * burst, (bursts + 1) * burst)))
            bursts += 1
            statuses |= {s for s, _, _ in answers}
            worst = max(s for _, s, _ in answers)
            slowest.append(round(worst, 3))
            # Warm: fast, and ranked with complete signals (not the partial first answers).
            settled = worst < 0.5 and all(complete for _, _, complete in answers)
            fast_in_a_row = fast_in_a_row + 1 if settled else 0
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "bursts": bursts,
        "burst_size": burst,
        "slowest_per_burst_s": slowest,
        "statuses": sorted(statuses),
    }


def run_clients(
    port: int,
    server_pid: int,
    *,
    concurrency: int,
    duration: float,
    http_requests: int | None,
    warmup: int,
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(concurrency + 1)
    results = ctx.Queue()
    quotas: list[int | None] = [None] * concurrency
    if http_requests:
        quotas = [
            http_requests // concurrency + (1 if c < http_requests % concurrency else 0)
            for c in range(concurrency)
        ]
    clients = [
        ctx.Process(
            target=_client_main,
            args=(ClientJob(port, c, concurrency, warmup, duration, quotas[c]), barrier, results),
            daemon=True,
        )
        for c in range(concurrency)
    ]
    gc.collect()
    gc.freeze()  # keep the parent's heap shared with the forked clients
    try:
        for client in clients:
            client.start()
        barrier.wait(timeout=600)
        pids = process_tree(server_pid)
        cpu0 = {pid: cpu_seconds(pid) for pid in pids}
        busy0 = system_busy()
        load_before = [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
        outs = [results.get(timeout=duration + 120) for _ in range(concurrency)]
        busy1 = system_busy()
        cpu1 = {pid: cpu_seconds(pid) for pid in pids}
        for client in clients:
            client.join(timeout=30)
    finally:
        for client in clients:
            if client.is_alive():
                client.terminate()
        gc.unfreeze()

    seconds = max(o["finished"] for o in outs) - min(o["started"] for o in outs)
    latencies = [v for o in outs for v in o["latencies"]]
    error_count = sum(o.get("error_count", 0) for o in outs)
    completed = len(latencies)
    ok = completed - sum(o.get("http_errors", 0) for o in outs)
    server_cpu = {pid: round(cpu1[pid] - cpu0[pid], 2) for pid in pids}
    server_s = sum(server_cpu.values())
    clients_s = sum(o.get("cpu_s", 0.0) for o in outs)
    busy, total = busy1[0] - busy0[0], busy1[1] - busy0[1]
    other_s = busy / os.sysconf("SC_CLK_TCK") - server_s - clients_s
    summary = latency_summary(latencies)
    rps = ok / seconds if seconds > 0 else 0.0
    return {
        "concurrency": concurrency,
        "client_processes": concurrency,
        "seconds": round(seconds, 3),
        "requests": completed,
        "ok": ok,
        "errors": error_count,
        "error_samples": [e for o in outs for e in o["errors"]][:5],
        "requests_per_s": round(rps, 1),
        **summary,
        "client_warmup_max_s": round(max(o["warmup_max_s"] for o in outs), 3),
        "cpu": {
            # CPU seconds during the timed part; "other_s" is everything else on the machine.
            "server_s": round(server_s, 2),
            "server_by_pid": {str(pid): v for pid, v in server_cpu.items()},
            "server_ms_per_request": round(1000 * server_s / completed, 3) if completed else None,
            "clients_s": round(clients_s, 2),
            "clients_ms_per_request": round(1000 * clients_s / completed, 3) if completed else None,
            "other_s": round(other_s, 2),
            "machine_busy_pct": round(100.0 * busy / total, 1) if total else None,
            "loadavg_before": load_before,
        },
        # Other processes used more than 5% of the machine: the figures are disturbed.
        "disturbed": other_s > 0.05 * seconds * (os.cpu_count() or 1),
        # Judged against the ceiling once it is known (http_benchmark).
        "meets_targets": None,
    }


@contextlib.contextmanager
def running_ceiling(workdir: Path, workers: int) -> Iterator[tuple[Any, int]]:
    """bench/ceiling_app.py on uvicorn, started as `recsys serve` starts the service (same
    worker count, no access log), with the same process handling as the real server."""
    from recsys.testing.postgres import free_port
    from recsys.testing.server import running_process

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "ceiling_app:create_app",
        "--factory",
        "--app-dir",
        str(Path(__file__).resolve().parent),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with running_process(command, port=port, workdir=workdir, name="ceiling") as server:
        yield server.process, port


def ceiling_runs(args: argparse.Namespace, workers: int, workdir: Path) -> list[dict[str, Any]]:
    """The same clients, bodies, worker count and concurrency levels against the ceiling."""
    runs = []
    with running_ceiling(workdir, workers) as (process, port):
        warm_workers(port, workers, _BODIES)
        for concurrency in args.concurrency:
            run = run_clients(
                port,
                process.pid,
                concurrency=concurrency,
                duration=args.duration,
                http_requests=args.http_requests,
                warmup=args.client_warmup,
            )
            log(
                f"  ceiling workers={workers} concurrency={concurrency}: "
                f"{run['requests_per_s']} req/s, p99 {run.get('p99_ms')} ms, errors {run['errors']}"
            )
            runs.append({"workers": workers, **run})
    return runs


def http_benchmark(
    args: argparse.Namespace,
    dataset: Any,
    sample: UserSample,
    overrides: dict[str, Any],
    now_us: int,
    workdir: Path,
) -> tuple[dict[str, Any], str]:
    from recsys.testing.server import running_server

    database = args.db.resolve() if args.db else workdir / "recsys.db"
    url = f"sqlite:///{database}"
    last_event_id = f"ev-{dataset.seed}-{len(dataset.events) - 1}"
    counts = stored_counts(url, last_event_id) if database.exists() else None
    expected = {
        "items": args.items,
        "users": args.users,
        "events": args.events,
        "last_event_present": 1,
    }
    if counts is not None:
        if counts != expected:
            raise SystemExit(f"--db {database} holds {counts}, not {expected}: remove it")
        log(f"reusing {url} ({counts})")
        load: dict[str, Any] = {"reused": str(database), **counts}
    else:
        log(f"loading {len(dataset.events)} events into {url}")
        load = load_store(dataset, url, now_us)
        log(f"loaded in {load['seconds']} s")
    _BODIES[:] = request_bodies(sample, k=args.k, overrides=overrides)
    body_sizes = [len(b) for b in _BODIES]
    runs: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    ceilings: list[dict[str, Any]] = []
    for workers in args.workers:
        env = {**SERVER_ENV, **args.server_env}
        with running_server(url, workdir=workdir, workers=workers, env=env) as server:
            port = int(server.base_url.rsplit(":", 1)[1])
            try:
                first = first_request(port, _BODIES[0])
                log(f"workers={workers}: first request {first['seconds']} s ({first['status']})")
                warm = warm_workers(port, workers, _BODIES)
                pids = process_tree(server.process.pid)
                info = {
                    "workers": workers,
                    "first_request": first,
                    "warm_all_workers": warm,
                    "processes": len(pids),
                    "rss_mib_by_pid_after_warmup": {
                        str(pid): mib((proc_status_kb("VmRSS", pid) or 0) * 1024) for pid in pids
                    },
                }
                for concurrency in args.concurrency:
                    for attempt in range(1, args.attempts + 1):
                        busy = wait_until_quiet(args.quiet_wait) if args.quiet_wait else None
                        log(
                            f"workers={workers} concurrency={concurrency}: {args.duration:g} s"
                            + (f" or {args.http_requests} requests" if args.http_requests else "")
                            + f", attempt {attempt}"
                            + (f" (machine {busy}% busy before)" if busy is not None else "")
                        )
                        run = run_clients(
                            port,
                            server.process.pid,
                            concurrency=concurrency,
                            duration=args.duration,
                            http_requests=args.http_requests,
                            warmup=args.client_warmup,
                        )
                        run = {
                            "workers": workers,
                            **run,
                            "attempt": attempt,
                            "machine_busy_pct_before": busy,
                        }
                        log(
                            f"  {run['requests_per_s']} req/s, p50 {run.get('p50_ms')} ms, "
                            f"p99 {run.get('p99_ms')} ms, errors {run['errors']}, "
                            f"disturbed {run['disturbed']} (other CPU {run['cpu']['other_s']} s)"
                        )
                        runs.append(run)
                        if not run["disturbed"]:
                            break
                info["rss_mib_by_pid_after_runs"] = {
                    str(pid): mib((proc_status_kb("VmRSS", pid) or 0) * 1024) for pid in pids
                }
                servers.append(info)
            except BaseException:
                log(f"server log:\n{server.log()[-4000:]}")
                raise
        info["exit_code"] = server.process.returncode
        if not args.skip_ceiling:
            ceilings.extend(ceiling_runs(args, workers, workdir))
    # Per configuration, the last attempt (undisturbed if any attempt was).
    final: dict[tuple[int, int], dict[str, Any]] = {}
    for run in runs:
        key = (run["workers"], run["concurrency"])
        if key not in final or final[key]["disturbed"]:
            final[key] = run
    for run in runs:
        run["final"] = run is final[(run["workers"], run["concurrency"])]
    # RecSys as a share of the ceiling measured in the same run, same workers and concurrency.
    for run in runs:
        ceiling = next(
            (
                c
                for c in ceilings
                if (c["workers"], c["concurrency"]) == (run["workers"], run["concurrency"])
            ),
            None,
        )
        if ceiling is not None and ceiling["requests_per_s"]:
            run["ceiling_requests_per_s"] = ceiling["requests_per_s"]
            run["share_of_ceiling"] = round(run["requests_per_s"] / ceiling["requests_per_s"], 3)
        run["meets_targets"] = bool(
            run["errors"] == 0
            and run.get("share_of_ceiling", 0.0) >= TARGET_HTTP_SHARE_OF_CEILING
            and run.get("p99_ms", math.inf) <= TARGET_HTTP_P99_MS
        )
    best = [r for r in final.values() if r["errors"] == 0 and not r["disturbed"]]
    best = best or [r for r in final.values() if r["errors"] == 0] or list(final.values())
    result = {
        "store": "sqlite (file, WAL)",
        "server_env": {**SERVER_ENV, **args.server_env},
        "load": load,
        "bodies": {
            "distinct": len(_BODIES),
            "mean_bytes": round(sum(body_sizes) / len(body_sizes), 1),
            "example": _BODIES[0].decode(),
        },
        "client": "one process per connection, keep-alive http.client, bodies pre-serialised",
        "servers": servers,
        "runs": runs,
        "ceiling": {
            "what": "bench/ceiling_app.py: same framework, route, body model and response shape, "
            "k items, no ranking",
            "runs": ceilings,
        },
        "best": max(best, key=lambda r: r["requests_per_s"]) if best else None,
    }
    return result, url


# --- 5. in-process profile of the HTTP request path -----------------------------------------


async def _asgi_post(app: Any, body: bytes) -> tuple[int, bytes]:
    """One POST through the whole ASGI stack (middleware, routing, FastAPI), no sockets."""
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"x-org-id", ORG_ID.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": (HOST, 50000),
        "server": (HOST, 8000),
    }
    await app(scope, receive, send)
    return status, b"".join(chunks)


@contextlib.contextmanager
def inline_threadpool(counter: list[int] | None = None) -> Iterator[None]:
    """Run FastAPI's sync dependencies, endpoint and response validation inline (no thread
    hops); with `counter`, count the hops instead and still run them in the threadpool."""
    import fastapi.dependencies.utils as dep_utils
    import fastapi.routing as routing

    saved = routing.run_in_threadpool, dep_utils.run_in_threadpool
    original = saved[0]

    async def inline(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        assert counter is not None
        counter[0] += 1
        return await original(func, *args, **kwargs)

    replacement = inline if counter is None else counted
    routing.run_in_threadpool = dep_utils.run_in_threadpool = replacement
    try:
        yield
    finally:
        routing.run_in_threadpool, dep_utils.run_in_threadpool = saved


# Cumulative time of one function (path suffix, name): the framework's parts of a request.
# The endpoint's own parts are found from the call graph, whatever the route calls.
_MARKERS = {
    "request": ("bench/serving.py", "_asgi_post"),
    "body_read": ("starlette/requests.py", "body"),
    "json_parse": ("starlette/requests.py", "json"),
    "solve_dependencies": ("fastapi/dependencies/utils.py", "solve_dependencies"),
    "request_validation": ("fastapi/dependencies/utils.py", "request_body_to_args"),
    "endpoint": ("recsys/service/routes/ranking.py", "recommendations"),
    "pipeline": ("recsys/ranking/pipeline.py", "run"),
    "serialize_response": ("fastapi/routing.py", "serialize_response"),
    "response_validate": ("fastapi/_compat/v2.py", "validate"),
    "response_serialize_json": ("fastapi/_compat/v2.py", "serialize_json"),
}


def _key_label(key: tuple[str, int, str]) -> str:
    path, line, func = key
    if path == "~":
        return func
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else path
    return f"{short}:{line}({func})"


def _find(stats: dict, marker: tuple[str, str]) -> list[tuple[str, int, str]]:
    suffix, name = marker
    return [k for k in stats if k[2] == name and k[0].endswith(suffix)]


def _call_tree(
    stats: dict, root: tuple[str, int, str], total: float, *, depth: int, min_pct: float
) -> dict[str, Any]:
    """`root`'s callees by the cumulative time spent in them from their caller, recursively."""
    callees: dict[tuple, list[tuple[float, tuple]]] = {}
    for key, (_cc, _nc, _tt, _ct, callers) in stats.items():
        for caller, values in callers.items():
            callees.setdefault(caller, []).append((values[3], key))

    def node(key: tuple, ct: float, level: int, seen: frozenset) -> dict[str, Any]:
        out: dict[str, Any] = {"pct": round(100 * ct / total, 1)}
        if level < depth and key not in seen:
            children = sorted(callees.get(key, []), reverse=True)
            kept = {
                _key_label(child): node(child, child_ct, level + 1, seen | {key})
                for child_ct, child in children
                if 100 * child_ct / total >= min_pct
            }
            if kept:
                out["own_pct"] = round(100 * stats[key][2] / total, 1)
                out["calls"] = kept
        return out

    return {_key_label(root): node(root, stats[root][3], 0, frozenset())}


class _RecordingPipeline:
    """Stands in for the service's pipeline: records what the route asks it to rank."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[Any, Any]] = []

    def run(self, snapshot: Any, request: Any) -> Any:
        self.calls.append((snapshot, request))
        return self.inner.run(snapshot, request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def profile_request_path(
    url: str, bodies: Sequence[bytes], now: datetime, server_env: dict[str, str]
) -> dict[str, Any]:
    """The HTTP request path in-process, through the ASGI app (no sockets, lifespan running,
    settings from the same environment as the server): as served (threadpool), with the
    threadpool hops inlined, the pipeline alone on the very requests the route built, the
    response validation + JSON dump with and without `trace`, and a cProfile breakdown."""
    import asyncio
    import cProfile
    import pstats

    import fastapi.routing as fastapi_routing

    from recsys.config.settings import Settings
    from recsys.service.app import create_app
    from recsys.store import Store

    env = {**os.environ, **server_env, "RECSYS_DATABASE_URL": url, "RECSYS_AUTO_MIGRATE": "false"}
    settings = Settings.from_env(env)
    store = Store.from_url(url, migrate=False)
    # The same clock as the in-process figures.
    app = create_app(settings, store=store, clock=lambda: now)
    state = app.state.recsys
    recorder = _RecordingPipeline(state.pipeline)
    object.__setattr__(state, "pipeline", recorder)
    responses: list[Any] = []
    original_serialize = fastapi_routing.serialize_response

    async def recording_serialize(**kwargs: Any) -> Any:
        if len(responses) < len(bodies):
            responses.append(kwargs.get("response_content"))
        return await original_serialize(**kwargs)

    async def drive(profiler: Any = None) -> tuple[float, list[int], int]:
        statuses: list[int] = []
        size = 0
        gc.collect()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            for body in bodies:
                status, data = await _asgi_post(app, body)
                statuses.append(status)
                size += len(data)
        finally:
            if profiler is not None:
                profiler.disable()
        return time.perf_counter() - started, statuses, size

    profiler = cProfile.Profile()
    hops = [0]

    async def session() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with app.router.lifespan_context(app):
            t0 = time.perf_counter()
            status, data = await _asgi_post(app, bodies[0])  # builds the snapshot
            out["first_request_s"] = time.perf_counter() - t0
            if status != 200:
                raise RuntimeError(f"in-process request answered {status}: {data[:300]!r}")
            out["answer"] = data
            await drive()  # warm
            recorder.calls.clear()
            fastapi_routing.serialize_response = recording_serialize
            try:
                out["served"] = await drive()
            finally:
                fastapi_routing.serialize_response = original_serialize
            with inline_threadpool(hops):
                await drive()
            with inline_threadpool():
                out["inline"] = await drive()
            with inline_threadpool():
                out["profiled"] = await drive(profiler)
        return out

    try:
        session_out = asyncio.run(session())
    finally:
        store.close()

    # The pipeline alone, on exactly the (snapshot, request) pairs the route built.
    calls = recorder.calls[: len(bodies)]
    results = []
    gc.collect()
    t0 = time.perf_counter()
    for snapshot, request in calls:
        results.append(recorder.inner.run(snapshot, request))
    pipeline_s = time.perf_counter() - t0

    # FastAPI's response validation + JSON dump of what the endpoint returned, with and
    # without the trace.
    from recsys.service.routes import ranking as ranking_routes

    route = next(r for r in ranking_routes.router.routes if getattr(r, "path", None) == PATH)
    field = route.response_field

    def validate_and_dump(strip_trace: bool) -> tuple[float, int]:
        size = 0
        started = time.perf_counter()
        for content in responses:
            if strip_trace:
                content = content.model_copy(update={"trace": {}})
            value, errors = field.validate(content, {}, loc=("response",))
            assert not errors
            size += len(field.serialize_json(value, exclude_none=True))
        return time.perf_counter() - started, size

    validate_and_dump(False)
    with_trace_s, _ = validate_and_dump(False)
    without_trace_s, without_trace_bytes = validate_and_dump(True)

    n = len(bodies)
    served_s, statuses, size = session_out["served"]
    inline_s = session_out["inline"][0]
    profiled_s = session_out["profiled"][0]
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cum(name: str) -> float:
        return sum(stats[k][3] for k in _find(stats, _MARKERS[name]))

    def cum_from(name: str, parent: str) -> float:
        # With the hops inlined, a sync call FastAPI would hand to the threadpool is made by
        # `inline_threadpool`'s stand-in instead of by its real caller.
        parents = _find(stats, _MARKERS[parent]) + _find(stats, ("bench/serving.py", "inline"))
        return sum(
            stats[k][4][p][3]
            for k in _find(stats, _MARKERS[name])
            for p in parents
            if p in stats[k][4]
        )

    t = {name: cum(name) for name in _MARKERS}
    # ModelField.validate also validates the request body: count only the response's.
    t["response_validate"] = cum_from("response_validate", "serialize_response")
    t["response_serialize_json"] = cum_from("response_serialize_json", "serialize_response")
    # (the request body is validated by request_body_to_args, never through the stand-in)
    total = t["request"]
    parts = {
        "body_read": t["body_read"],
        "json_parse": t["json_parse"],
        "request_validation_pydantic": t["request_validation"],
        "dependencies_other": t["solve_dependencies"] - t["request_validation"],
        "endpoint_pipeline_run": t["pipeline"],
        "endpoint_other": t["endpoint"] - t["pipeline"],
        "response_validate": t["response_validate"],
        "response_serialize_json": t["response_serialize_json"],
        "serialize_response_other": t["serialize_response"]
        - t["response_validate"]
        - t["response_serialize_json"],
    }
    parts["asgi_routing_middleware_rest"] = total - sum(parts.values())
    endpoint_keys = _find(stats, _MARKERS["endpoint"])
    ranked = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:20]
    answer = orjson.loads(session_out["answer"])
    ms = 1000.0 / n
    return {
        "requests": n,
        "settings": {
            "audit_sample": getattr(settings, "audit_sample", None),
            "server_env": server_env,
        },
        "first_request_builds_snapshot_s": round(session_out["first_request_s"], 3),
        "response_bytes_mean": round(size / n, 1),
        "response_bytes_mean_without_trace": round(without_trace_bytes / max(1, len(responses)), 1),
        "trace_bytes_example": len(orjson.dumps(answer.get("trace"))),
        "statuses": sorted(set(statuses)),
        "threadpool_hops_per_request": round(hops[0] / n, 2),
        "ms_per_request": {
            "asgi_served_threadpool": round(served_s * ms, 3),
            "asgi_inline": round(inline_s * ms, 3),
            "asgi_inline_cprofile": round(profiled_s * ms, 3),
            "pipeline_run_only": round(pipeline_s * 1000 / max(1, len(calls)), 3),
            "response_validate_dump_with_trace": round(
                with_trace_s * 1000 / max(1, len(responses)), 3
            ),
            "response_validate_dump_without_trace": round(
                without_trace_s * 1000 / max(1, len(responses)), 3
            ),
        },
        "shares_without_profiler_pct": {
            # Wall-clock shares of the served request (no profiler distortion).
            "pipeline_run": round(100 * pipeline_s / served_s, 1),
            "response_validate_dump": round(100 * with_trace_s / served_s, 1),
            "of_which_trace": round(100 * (with_trace_s - without_trace_s) / served_s, 1),
            "threadpool_hops": round(100 * (served_s - inline_s) / served_s, 1),
            "everything_else": round(100 * (inline_s - pipeline_s - with_trace_s) / served_s, 1),
        },
        "breakdown_cprofile_pct": {k: round(100 * v / total, 1) for k, v in parts.items()},
        "endpoint_call_tree_cprofile_pct": _call_tree(
            stats, endpoint_keys[0], total, depth=6, min_pct=1.0
        )
        if endpoint_keys
        else {},
        "top_functions_by_self_time": [
            {
                "function": _key_label(key),
                "self_pct": round(100 * v[2] / total, 1),
                "cumulative_pct": round(100 * v[3] / total, 1),
                "calls_per_request": round(v[1] / n, 1),
            }
            for key, v in ranked
        ],
    }


# --- report ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2025, help="dataset seed")
    parser.add_argument(
        "--now", type=parse_now, default=parse_now(DEFAULT_NOW), help="dataset and ranking time"
    )
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--fanout", type=int, default=500, help="popularity_fanout")
    parser.add_argument("--mmr-lambda", type=float, default=0.7)
    parser.add_argument("--requests", type=int, default=2000, help="in-process requests")
    parser.add_argument("--cold-share", type=float, default=0.2, help="share of cold users")
    parser.add_argument(
        "--concurrency",
        type=lambda s: int_list(s, 1, MAX_CONCURRENCY, "--concurrency"),
        default=[16],
        help="HTTP client processes (in-flight requests); a list sweeps: 8,16,32",
    )
    parser.add_argument(
        "--workers",
        type=lambda s: int_list(s, 1, MAX_WORKERS, "--workers"),
        default=[2],
        help="server worker processes; a list sweeps: 1,2",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per HTTP run")
    parser.add_argument(
        "--http-requests",
        type=int,
        default=0,
        help="stop an HTTP run after this many requests (0: only --duration bounds it)",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=1,
        help="re-run an HTTP configuration up to this many times while other load disturbs it",
    )
    parser.add_argument("--client-warmup", type=int, default=3, help="untimed requests/client")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each HTTP run, wait up to this many seconds for the machine to be idle",
    )
    parser.add_argument(
        "--db",
        type=Path,
        help="SQLite file to load once and keep (reused when it already holds the dataset)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the server (and the profile's settings), repeatable",
    )
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--skip-ceiling",
        action="store_true",
        help="do not measure the no-ranking ceiling after each HTTP configuration",
    )
    parser.add_argument(
        "--skip-override-sweep",
        action="store_true",
        help="skip timing requests that carry each request-level knob at its range ends",
    )
    parser.add_argument("--skip-inprocess", action="store_true", help="only the HTTP part")
    parser.add_argument(
        "--profile-requests",
        type=int,
        default=500,
        help="requests for the in-process profile of the HTTP path (0: skip; needs HTTP)",
    )
    parser.add_argument("--output", type=Path, help="also write the JSON document here")
    args = parser.parse_args(argv)
    for name, value, high in (
        ("--items", args.items, MAX_ITEMS),
        ("--users", args.users, MAX_USERS),
        ("--events", args.events, MAX_EVENTS),
        ("--requests", args.requests, MAX_REQUESTS),
    ):
        if not 1 <= value <= high:
            parser.error(f"{name} must be in 1..{high}")
    if not 1 <= args.k <= 1000:
        parser.error("--k must be in 1..1000")
    if not 1 <= args.fanout <= 100_000:
        parser.error("--fanout must be in 1..100000")
    if not 0.0 <= args.mmr_lambda <= 1.0:
        parser.error("--mmr-lambda must be in 0..1")
    if not 0.0 <= args.cold_share <= 1.0:
        parser.error("--cold-share must be in 0..1")
    if not 1.0 <= args.duration <= MAX_DURATION_S:
        parser.error(f"--duration must be in 1..{MAX_DURATION_S:g}")
    if not 0 <= args.http_requests <= MAX_REQUESTS:
        parser.error(f"--http-requests must be in 0..{MAX_REQUESTS}")
    try:
        args.server_env = dict(item.split("=", 1) for item in args.server_env)
    except ValueError:
        parser.error("--server-env takes NAME=VALUE")
    if not 1 <= args.attempts <= 10:
        parser.error("--attempts must be in 1..10")
    if not 0 <= args.client_warmup <= 50:
        parser.error("--client-warmup must be in 0..50")
    if not 0.0 <= args.quiet_wait <= 600.0:
        parser.error("--quiet-wait must be in 0..600")
    if not 0 <= args.profile_requests <= 20_000:
        parser.error("--profile-requests must be in 0..20000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from recsys.clock import to_micros
    from recsys.offline.synthetic import generate

    now_us = to_micros(args.now)
    overrides = overrides_for(args)
    document: dict[str, Any] = {
        "benchmark": "serving",
        "endpoint": f"POST {PATH}",
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "machine": {**machine_info(PACKAGES), "numpy": np.__version__},
        "scenario": {
            "items": args.items,
            "users": args.users,
            "events": args.events,
            "seed": args.seed,
            "now": args.now.isoformat(),
            "k": args.k,
            "popularity_fanout": args.fanout,
            "mmr_lambda": args.mmr_lambda,
            "request_overrides": overrides,
            "surface": SURFACE,
            "cold_share": args.cold_share,
            "targets": {
                "in_process_p50_ms": TARGET_INPROCESS_P50_MS,
                "in_process_p99_ms": TARGET_INPROCESS_P99_MS,
                "http_share_of_ceiling": TARGET_HTTP_SHARE_OF_CEILING,
                "http_p99_ms": TARGET_HTTP_P99_MS,
                "http_errors": 0,
            },
        },
    }

    log(f"generating {args.items} items, {args.users} users, {args.events} events")
    t0 = time.perf_counter()
    dataset = generate(
        n_items=args.items, n_users=args.users, n_events=args.events, now=args.now, seed=args.seed
    )
    stats = dataset.stats()
    document["dataset"] = {
        "generate_seconds": round(time.perf_counter() - t0, 2),
        "users_without_events": stats.get("users_without_events"),
        "events_per_type": stats.get("events_per_type"),
        "time_span": stats.get("time_span"),
    }
    sample = user_sample(dataset, args.requests, args.cold_share, args.seed + 1)
    http_sample = user_sample(dataset, HTTP_BODIES, args.cold_share, args.seed + 2)
    document["scenario"]["request_mix"] = {
        kind: sample.kinds.count(kind) for kind in ("active", "known_no_events", "unknown")
    }

    if not args.skip_inprocess:
        log("building the snapshot in-process")
        snapshot, build = build_snapshot_timed(dataset, now_us)
        document["snapshot_build"] = build
        log(f"built in {build['seconds_total']} s: {build['seconds_grouped']}")
        log(f"in-process: {args.requests} requests")
        inproc = in_process_latency(snapshot, sample, k=args.k, now_us=now_us, overrides=overrides)
        document["in_process"] = inproc
        log(
            f"in-process p50 {inproc['p50_ms']} ms, p99 {inproc['p99_ms']} ms, "
            f"{inproc['requests_per_s']} req/s"
        )
        if not args.skip_override_sweep:
            log("in-process: every request-level knob at both ends of its range")
            sweep = override_sweep(snapshot, sample, k=args.k, now_us=now_us)
            document["override_sweep"] = sweep
            log(
                f"overrides: worst p99 {sweep['worst_p99']}, "
                f"signals built {sweep['signals_built_on_the_request_path']}"
            )
        del snapshot
        gc.collect()

    ok = True
    if not args.skip_http:
        workdir = Path(tempfile.mkdtemp(prefix="recsys-serving-"))
        try:
            try:
                http_result, url = http_benchmark(
                    args, dataset, http_sample, overrides, now_us, workdir
                )
            except Exception as exc:  # keep the in-process figures
                log(f"HTTP benchmark failed: {type(exc).__name__}: {exc}")
                http_result, url = {"error": f"{type(exc).__name__}: {exc}", "runs": []}, None
            document["http"] = http_result
            ok = "error" not in http_result and all(r["errors"] == 0 for r in http_result["runs"])
            if args.profile_requests and url is not None:
                log(f"profiling the request path in-process ({args.profile_requests} requests)")
                del dataset
                gc.collect()
                try:
                    document["profile"] = profile_request_path(
                        url, _BODIES[: args.profile_requests], args.now, args.server_env
                    )
                except Exception as exc:  # keep the figures measured so far
                    log(f"profile failed: {type(exc).__name__}: {exc}")
                    document["profile"] = {"error": f"{type(exc).__name__}: {exc}"}
                    ok = False
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    document["targets_met"] = {
        "in_process_p50": document.get("in_process", {}).get("meets_target_p50"),
        "in_process_p99": document.get("in_process", {}).get("meets_target_p99"),
        "override_worst_p99": document.get("override_sweep", {}).get("meets_target_p99"),
        "http": [
            {
                "workers": r["workers"],
                "concurrency": r["concurrency"],
                "meets_targets": r["meets_targets"],
            }
            for r in document.get("http", {}).get("runs", [])
            if r.get("final")
        ],
    }
    emit(document, args.output)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
