"""Logs of a real `recsys serve`: JSON lines from every logger (ours and uvicorn's), an access
line per request with its route template, status, latency, request id and org, the project's own
events (snapshot builds with timings, rate-limit refusals) carrying the request id they happened
in, and never a user id or an API key."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from recsys.service.logs import REQUEST_ID, RequestContextFilter, logging_config
from recsys.testing.server import ServerProcess, running_server

ORG = "6b1d1c2e-0000-4000-8000-00000000109a"
USER = "user-name-that-must-not-be-logged"
API_KEY = "key-that-must-not-be-logged"


def _lines(server: ServerProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log().splitlines() if line.strip()]


def _wait_for(server: ServerProcess, found: Callable[[list[dict[str, Any]]], bool]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if found(_lines(server)):
            return
        time.sleep(0.05)  # polling the log file for lines the server has written
    raise AssertionError(server.log()[-3000:])


@pytest.mark.slow
def test_json_logs_of_a_real_server(tmp_path: Path) -> None:
    env = {
        "RECSYS_LOG_FORMAT": "json",
        "RECSYS_LOG_LEVEL": "info",
        "RECSYS_ACCESS_LOG": "true",
        "API_AUTH_ENABLED": "true",
        "API_AUTH_KEYS": f"{API_KEY}:*",
        "API_RATE_LIMIT_RPM": "6",
        "API_RATE_LIMIT_BURST": "4",
    }
    url = f"sqlite:///{tmp_path / 'recsys.db'}"
    with running_server(url, workdir=tmp_path, env=env, log_level=None) as server:
        headers = {"X-Org-ID": ORG, "X-API-Key": API_KEY}
        with httpx.Client(base_url=server.base_url, headers=headers) as http:
            events = [
                {"event_id": f"e{i}", "user_id": USER, "item_id": f"i{i}", "type": "view"}
                for i in range(3)
            ]
            body = {"namespace": "logs", "events": events}
            sent = http.post("/v1/events:batch", json=body, headers={"X-Request-ID": "ingest-1"})
            assert sent.status_code == 200, sent.text
            body = {"namespace": "logs", "user_id": USER, "k": 3}
            ranked = http.post("/v1/recommendations", json=body, headers={"X-Request-ID": "rec-1"})
            assert ranked.status_code == 200, ranked.text
            statuses = [
                http.get("/v1/items", params={"namespace": "logs"}).status_code for _ in range(3)
            ]
            assert statuses[-1] == 429
        # Every request's line, the three listings' included (the startup's health checks
        # are access lines too, so a count of lines alone could stop one short).
        _wait_for(
            server,
            lambda lines: (
                sum(1 for x in lines if x.get("http", {}).get("route") == "/v1/items") >= 3
            ),
        )
        lines = _lines(server)
        text = server.log()
    access = {x["request_id"]: x for x in lines if x["logger"] == "recsys.access"}
    assert access["rec-1"]["http"] == {
        "method": "POST",
        "route": "/v1/recommendations",
        "status": 200,
        "latency_ms": access["rec-1"]["http"]["latency_ms"],
        "org": ORG,
    }
    assert access["rec-1"]["http"]["latency_ms"] > 0
    assert access["ingest-1"]["http"]["route"] == "/v1/events:batch"
    assert [x["http"]["status"] for x in lines if x.get("http", {}).get("route") == "/v1/items"][
        -1
    ] == 429
    refusals = [x for x in lines if "rate limit" in x["message"]]
    assert refusals and refusals[0]["request_id"] in access  # logged inside its request
    assert refusals[0]["level"] == "info"
    builds = [x for x in lines if x["logger"] == "recsys.snapshots" and " built " in x["message"]]
    assert builds, [x["message"] for x in lines]
    assert any(x["logger"].startswith("uvicorn") for x in lines)  # uvicorn's lines are JSON too
    assert all({"ts", "level", "logger", "message", "request_id"} <= set(x) for x in lines)
    assert USER not in text and API_KEY not in text


def test_text_lines_carry_time_level_and_request_id() -> None:
    stream = io.StringIO()
    config = logging_config("info", "text")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(config["formatters"]["recsys"]["format"]))
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("recsys.test-text-lines")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        token = REQUEST_ID.set("req-77")
        logger.warning("inside a request")
        REQUEST_ID.reset(token)
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = stream.getvalue().splitlines()
    assert inside.endswith("WARNING recsys.test-text-lines [req-77] inside a request")
    assert outside.endswith("[-] outside")
    assert inside[:4].isdigit()  # starts with the time


def test_background_failures_log_a_store_outage_as_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import psycopg
    from sqlalchemy import exc as sa_exc

    from recsys.service.logs import log_failure

    logger = logging.getLogger("recsys.test-failures")
    outage = sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("refused"))
    with caplog.at_level(logging.INFO, logger="recsys.test-failures"):
        try:
            raise outage
        except Exception:
            log_failure(logger, "refresh of %s failed", "shop")
        try:
            raise ValueError("a bug")
        except Exception:
            log_failure(logger, "refresh of %s failed", "shop")
    away, bug = caplog.records
    assert (away.levelname, away.getMessage(), away.exc_info) == (
        "WARNING",
        "refresh of shop failed: store unavailable (OperationalError)",
        None,
    )
    assert bug.levelname == "ERROR" and bug.exc_info is not None
