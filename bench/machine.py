"""What the benchmarks share: a fresh store per run, and the record of where they ran — the
machine and the recsys code (commit, uncommitted changes, a hash of the source tree), so figures
are only compared like for like."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson


def source_info() -> dict[str, Any]:
    """The recsys package that ran: its directory, its commit ("-dirty" and a hash of the diff
    when src/ has uncommitted changes) and a hash over every source file as it ran."""
    import recsys

    package = Path(recsys.__file__).resolve().parent
    info: dict[str, Any] = {"recsys_path": str(package), "git_commit": None}

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=package, capture_output=True, text=True, timeout=10, check=False
        )

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = git("rev-parse", "HEAD")
        if head.returncode == 0:
            diff = git("diff", "HEAD", "--", ".").stdout
            info["git_commit"] = head.stdout.strip() + ("-dirty" if diff else "")
            if diff:
                info["src_diff_sha256"] = hashlib.sha256(diff.encode()).hexdigest()[:16]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    info["src_tree_sha256"] = digest.hexdigest()[:16]
    return info


def machine_info(packages: Sequence[str]) -> dict[str, Any]:
    """CPU, memory, Python and the versions of `packages` (those installed)."""
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {
        "nproc": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "memory_mib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
        "source": source_info(),
    }


@contextlib.contextmanager
def fresh_store(backend: str, *, prefix: str = "recsys-bench-") -> Iterator[str]:
    """A fresh, empty store for one run: a SQLite file in a temp dir, or a throwaway PostgreSQL
    cluster with durable settings (fsync and synchronous commit on, as in production)."""
    if backend == "sqlite":
        root = Path(tempfile.mkdtemp(prefix=prefix))
        try:
            yield f"sqlite:///{root / 'recsys.db'}"
        finally:
            shutil.rmtree(root, ignore_errors=True)
    else:
        from recsys.testing.postgres import throwaway_cluster

        with throwaway_cluster(durable=True) as url:
            yield url


def system_busy() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs, from /proc/stat: iowait counts as idle, steal as
    busy; guest time is already part of user, so only the first eight fields are summed."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def wait_until_quiet(max_wait: float, threshold_pct: float = 10.0) -> float:
    """Wait (up to `max_wait` s) for a second in which the machine is < `threshold_pct` busy;
    returns the busy % last seen. Benchmarks share the cores with whatever else runs."""
    deadline = time.monotonic() + max_wait
    while True:
        before = system_busy()
        time.sleep(1.0)
        after = system_busy()
        total = after[1] - before[1]
        busy_pct = 100.0 * (after[0] - before[0]) / total if total else 0.0
        if busy_pct < threshold_pct or time.monotonic() >= deadline:
            return round(busy_pct, 1)


def int_list(text: str, low: int, high: int, name: str) -> list[int]:
    """An argparse type: comma-separated integers, each within low..high (a sweep list)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{name}: comma-separated integers") from exc
    if not values or any(not low <= v <= high for v in values):
        raise argparse.ArgumentTypeError(f"{name}: each value must be in {low}..{high}")
    return values


__all__ = [
    "fresh_store",
    "int_list",
    "machine_info",
    "source_info",
    "system_busy",
    "wait_until_quiet",
]


def emit(document: Mapping[str, Any], output: Path | None) -> None:
    """Print the report (indented JSON) and, with `output`, write it there too."""
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if output is not None:
        output.write_text(text + "\n")
