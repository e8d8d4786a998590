"""`/metrics` of `recsys serve --workers 3` counts every worker's requests, whichever worker
answers the scrape, and its counters never go down between scrapes."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from recsys.testing.server import running_server

pytestmark = pytest.mark.slow

ORG = "6b1d1c2e-0000-4000-8000-0000000003e7"
WORKERS = 3


def items_requests(scrape: str) -> float:
    """recsys_http_requests_total for GET /v1/items, summed over statuses."""
    pattern = re.compile(
        r'^recsys_http_requests_total\{(?=[^}]*method="GET")(?=[^}]*route="/v1/items")[^}]*\}'
        r"\s+(\S+)$",
        re.MULTILINE,
    )
    return sum(float(value) for value in pattern.findall(scrape))


def fresh_connection_get(base: str, path: str, **kwargs: object) -> httpx.Response:
    # A new connection each time, so the kernel hands requests to every worker.
    with httpx.Client(base_url=base, headers={"Connection": "close"}) as http:
        return http.get(path, **kwargs)  # type: ignore[arg-type]


def test_metrics_are_summed_over_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'recsys.db'}"
    with running_server(url, workdir=tmp_path, workers=WORKERS) as server:
        base = server.base_url
        workers: set[str] = set()
        scrapes: list[tuple[int, float, str]] = []
        for sent in range(1, 401):
            response = fresh_connection_get(
                base, "/v1/items", params={"namespace": "m"}, headers={"X-Org-ID": ORG}
            )
            assert response.status_code == 200
            workers.add(response.headers["x-recsys-worker"])
            if sent % 10 == 0:
                scrape = fresh_connection_get(base, "/metrics")
                scrapes.append(
                    (sent, items_requests(scrape.text), scrape.headers["x-recsys-worker"])
                )
            if sent >= 60 and len(workers) >= 2 and len({w for *_, w in scrapes}) >= 2:
                break
    assert len(workers) >= 2, "the requests never reached a second worker"
    assert len({w for *_, w in scrapes}) >= 2, "every scrape was answered by one worker"
    # every scrape, whoever answered it, counts every request sent before it
    assert [(n, count) for n, count, _ in scrapes] == [(n, float(n)) for n, _, _ in scrapes]
