"""A bounded load test of POST /v1/recommendations, for a server you run yourself.

Workers (threads, one HTTP connection each) send requests back to back until the request budget
or the time budget is spent. Only loopback hosts are accepted unless the caller explicitly
allows a remote one: this is a tool for your own server, not for someone else's."""

from __future__ import annotations

import ipaddress
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from recsys.toolkit.sampling import ToolInputError, percentiles

MAX_CONCURRENCY = 256
MAX_DURATION_S = 600.0


def is_loopback(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LoadPlan:
    base_url: str
    org_id: str
    namespace: str
    user_ids: Sequence[str | None]
    concurrency: int
    duration_s: float | None
    requests: int | None
    k: int
    surface: str | None
    overrides: Mapping[str, Any]
    seed: int
    timeout_s: float = 10.0
    insecure: bool = False
    api_key: str | None = None

    def validate(self, *, allow_remote: bool) -> None:
        if not allow_remote and not is_loopback(self.base_url):
            raise ToolInputError(
                f"refusing to load-test {self.base_url}: not a loopback host. This tool is for "
                "a server you run; pass --allow-remote if it is yours."
            )
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ToolInputError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
        if self.duration_s is None and self.requests is None:
            raise ToolInputError("give --duration or --requests")
        if self.duration_s is not None and not 0 < self.duration_s <= MAX_DURATION_S:
            raise ToolInputError(f"--duration must be in (0, {MAX_DURATION_S:g}] seconds")
        if self.requests is not None and self.requests < 1:
            raise ToolInputError("--requests must be at least 1")
        if not self.user_ids:
            raise ToolInputError("no users to send requests for")

    def body(self, user_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"namespace": self.namespace, "k": self.k}
        if user_id is not None:
            body["user_id"] = user_id
        if self.surface:
            body["surface"] = self.surface
        if self.overrides:
            body["overrides"] = dict(self.overrides)
        return body


class _Budget:
    """Hands out request tickets until the count or the deadline runs out."""

    def __init__(self, requests: int | None, deadline: float | None) -> None:
        self.left = requests
        self.deadline = deadline
        self.lock = threading.Lock()

    def take(self) -> bool:
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return False
        with self.lock:
            if self.left is None:
                return True
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def run_load(plan: LoadPlan) -> dict[str, Any]:
    headers = {"X-Org-ID": plan.org_id}
    if plan.api_key:
        headers["X-API-Key"] = plan.api_key
    latencies: list[list[float]] = [[] for _ in range(plan.concurrency)]
    statuses: list[Counter[str]] = [Counter() for _ in range(plan.concurrency)]
    start = time.perf_counter()
    budget = _Budget(
        plan.requests, start + plan.duration_s if plan.duration_s is not None else None
    )

    def worker(n: int) -> None:
        rng = random.Random(f"{plan.seed}:{n}")
        pool = list(plan.user_ids)
        with httpx.Client(
            base_url=plan.base_url.rstrip("/"),
            headers=headers,
            timeout=plan.timeout_s,
            verify=not plan.insecure,
        ) as http:
            while budget.take():
                body = plan.body(rng.choice(pool))
                began = time.perf_counter()
                try:
                    response = http.post("/v1/recommendations", json=body)
                    outcome = str(response.status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                latencies[n].append((time.perf_counter() - began) * 1000.0)
                statuses[n][outcome] += 1

    threads = [
        threading.Thread(target=worker, args=(n,), name=f"load-{n}", daemon=True)
        for n in range(plan.concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    all_latencies = [x for per in latencies for x in per]
    outcomes: Counter[str] = Counter()
    for per_worker in statuses:
        outcomes.update(per_worker)
    ok = sum(n for code, n in outcomes.items() if code.isdigit() and 200 <= int(code) < 300)
    total = sum(outcomes.values())
    lat = np.asarray(all_latencies) if all_latencies else np.zeros(0)
    return {
        "base_url": plan.base_url,
        "namespace": plan.namespace,
        "concurrency": plan.concurrency,
        "duration_s": plan.duration_s,
        "requests_budget": plan.requests,
        "k": plan.k,
        "surface": plan.surface,
        "overrides": dict(plan.overrides),
        "users": len(plan.user_ids),
        "elapsed_s": round(elapsed, 3),
        "requests": total,
        "ok": ok,
        "errors": total - ok,
        "outcomes": dict(sorted(outcomes.items())),
        "requests_per_s": round(total / elapsed, 2) if elapsed > 0 else 0.0,
        "latency_ms": {
            **percentiles(all_latencies),
            "min": round(float(lat.min()), 3) if lat.size else None,
            "mean": round(float(lat.mean()), 3) if lat.size else None,
            "max": round(float(lat.max()), 3) if lat.size else None,
        },
        "per_worker_requests": [len(per) for per in latencies],
    }


def load_verdict(report: Mapping[str, Any], *, max_p99_ms: float | None) -> list[str]:
    """Why the run fails (empty: it passes)."""
    problems = []
    if report["errors"] > 0:
        problems.append(f"{report['errors']} of {report['requests']} requests failed")
    p99 = report["latency_ms"]["p99"]
    if max_p99_ms is not None and p99 is not None and p99 > max_p99_ms:
        problems.append(f"p99 {p99:.1f} ms > --max-p99-ms {max_p99_ms:g}")
    if report["requests"] == 0:
        problems.append("no request was sent")
    return problems


__all__ = ["LoadPlan", "is_loopback", "load_verdict", "run_load"]
