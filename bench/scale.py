"""Build once, serve many, at growing sizes: for each event count (items and users scale with
it), the cost of building a namespace's snapshot from the store and publishing its artifact, and
what a restarted server pays when the artifact is already there.

Per size, one after the other:
1. a synthetic dataset (`recsys.offline.synthetic.generate`: items = events / 100, users =
   events / 20) loaded into a fresh SQLite file through the repositories;
2. **build**, in a fresh child process (honest peak RSS): the snapshot registry's first load —
   events streamed from the store, every signal built, the artifact written — timed, with the
   child's peak RSS (VmHWM), µs per event and the artifact's size on disk;
3. **restart**: `recsys serve --workers 2` on that database and artifact directory; the first
   request's latency (it maps the artifact and applies newer events — none here), then bursts
   until both workers answer fast; RSS and PSS (`/proc/PID/smaps_rollup`: pages shared by the
   workers are split between them) of each worker before its first request and after.

    .venv/bin/python bench/scale.py --output bench/results/scale.json
    .venv/bin/python bench/scale.py --sizes 1000000,4000000,10000000 --output /tmp/scale.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import serving  # bench/serving.py: this script's directory is on sys.path
from machine import emit, machine_info

NOW = datetime(2026, 11, 25, tzinfo=UTC)

BUILD_CHILD = """
import json, sys, time
from pathlib import Path
from recsys.config.knobs import defaults
from recsys.service.artifacts import ArtifactShelf
from recsys.service.snapshots import SnapshotRegistry
from recsys.store import Store

url, root, org, namespace, now_us = sys.argv[1:6]
store = Store.from_url(url, migrate=False)
shelf = ArtifactShelf(Path(root), store)
registry = SnapshotRegistry(store, base_knobs=defaults(), now_us=lambda: int(now_us), shelf=shelf)
started = time.perf_counter()
served = registry.current(org, namespace)
seconds = time.perf_counter() - started
status = {}
for line in Path("/proc/self/status").read_text().splitlines():
    key, _, value = line.partition(":")
    if key in ("VmHWM", "VmRSS"):
        status[key] = int(value.split()[0])
print(json.dumps({
    "seconds": seconds,
    "events": int(served.snapshot.log.size),
    "published": shelf.counters.published,
    "peak_rss_kb": status.get("VmHWM"),
    "rss_kb": status.get("VmRSS"),
}))
"""


def memory_kb(pid: int) -> dict[str, int | None]:
    """RSS and PSS (pages shared with other processes split between them) of one process."""
    out: dict[str, int | None] = {"rss_kb": serving.proc_status_kb("VmRSS", pid), "pss_kb": None}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss_kb"] = int(line.split()[1])
    except OSError:
        pass
    return out


def workers_of(server_pid: int) -> list[int]:
    """The uvicorn worker processes: the server's descendants started by multiprocessing's
    spawn (not its resource tracker)."""
    workers = []
    for pid in serving.process_tree(server_pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            workers.append(pid)
    return workers


def artifact_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.suffix != ".lock")


def build(url: str, root: Path, now_us: int) -> dict[str, Any]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            BUILD_CHILD,
            url,
            str(root),
            serving.ORG_ID,
            serving.NAMESPACE,
            str(now_us),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["us_per_event"] = round(1e6 * result["seconds"] / max(result["events"], 1), 3)
    result["seconds"] = round(result["seconds"], 3)
    result["peak_rss_mib"] = round(result.pop("peak_rss_kb") / 1024, 1)
    result["rss_mib"] = round(result.pop("rss_kb") / 1024, 1)
    result["artifact_mib"] = round(artifact_bytes(root) / 2**20, 1)
    return result


def restart(url: str, root: Path, workdir: Path, bodies: list[bytes]) -> dict[str, Any]:
    from recsys.testing.server import free_port, running_server

    env = {
        **serving.SERVER_ENV,
        "RECSYS_SNAPSHOT_DIR": str(root),
        "OPENBLAS_NUM_THREADS": "1",
    }
    port = free_port()
    with running_server(url, workdir=workdir, workers=2, env=env, port=port) as server:
        pids = workers_of(server.process.pid)
        idle = {str(pid): memory_kb(pid) for pid in pids}
        first = serving.first_request(port, bodies[0])
        warm = serving.warm_workers(port, 2, bodies)
        warmed = {str(pid): memory_kb(pid) for pid in pids}
    return {
        "first_request": first,
        "warm_up": warm,
        "workers": len(pids),
        "memory_idle_kb": idle,
        "memory_warm_kb": warmed,
        "rss_growth_mib": {
            pid: round(((warmed[pid]["rss_kb"] or 0) - (idle[pid]["rss_kb"] or 0)) / 1024, 1)
            for pid in idle
        },
        "pss_growth_mib": {
            pid: round(((warmed[pid]["pss_kb"] or 0) - (idle[pid]["pss_kb"] or 0)) / 1024, 1)
            for pid in idle
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,4000000", help="event counts, comma-separated")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    sizes = [int(v) for v in args.sizes.split(",")]

    from recsys.clock import to_micros
    from recsys.offline.synthetic import generate

    now_us = to_micros(NOW)
    document: dict[str, Any] = {
        "benchmark": "scale",
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "machine": machine_info(serving.PACKAGES),
        "store": "sqlite (file, WAL)",
        "sizes": [],
    }
    for events in sizes:
        items, users = max(events // 100, 10), max(events // 20, 10)
        serving.log(f"{events} events, {items} items, {users} users")
        with tempfile.TemporaryDirectory(prefix="recsys-scale-") as tmp:
            workdir = Path(tmp)
            dataset = generate(
                n_items=items, n_users=users, n_events=events, now=NOW, seed=args.seed
            )
            url = f"sqlite:///{workdir / 'recsys.db'}"
            loaded = serving.load_store(dataset, url, now_us)
            sample = serving.user_sample(dataset, 200, 0.2, args.seed + 1)
            bodies = serving.request_bodies(sample, k=20, overrides={})
            del dataset
            gc.collect()
            root = workdir / "snapshots"
            serving.log("  build (child process)")
            built = build(url, root, now_us)
            serving.log(f"  {built}")
            serving.log("  restart with the artifact")
            restarted = restart(url, root, workdir, bodies)
            serving.log(f"  first request {restarted['first_request']}")
            document["sizes"].append(
                {
                    "events": events,
                    "items": items,
                    "users": users,
                    "load_seconds": loaded.get("seconds"),
                    "build": built,
                    "restart": restarted,
                }
            )
    emit(document, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
