"""The SDK's retry rules, on a scripted transport: what is retried, how long it waits, when it
gives up."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from recsys_client import Client, RecsysError, RetryPolicy
from recsys_client.retries import parse_retry_after

ORG = "6b1d1c2e-0000-4000-8000-0000000005d5"


def scripted(*outcomes: object) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(outcomes)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        outcome = queue.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, httpx.Response)
        return outcome

    return httpx.MockTransport(handle), seen


def busy(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return httpx.Response(status, json={"code": "x", "message": "busy"}, headers=headers)


OK = httpx.Response(200, json={"items": [], "next_page_token": None})


def client(transport: httpx.MockTransport, waits: list[float], **options: object) -> Client:
    return Client("http://x", org_id=ORG, transport=transport, sleep=waits.append, **options)  # type: ignore[arg-type]


def test_backoff_doubles_without_retry_after_and_gives_up_after_the_attempts() -> None:
    transport, seen = scripted(busy(503), busy(503), busy(503), busy(503))
    waits: list[float] = []
    with pytest.raises(RecsysError) as caught:
        client(transport, waits).list_items(namespace="n")
    assert waits == [0.25, 0.5, 1.0] and len(seen) == 4
    assert caught.value.status == 503


def test_retry_after_is_honoured_and_a_long_one_is_not_waited_for() -> None:
    transport, _ = scripted(busy(429, "2"), OK)
    waits: list[float] = []
    assert client(transport, waits).list_items(namespace="n").items == []
    assert waits == [2.0]
    transport, _ = scripted(busy(429, "120"))
    with pytest.raises(RecsysError) as caught:
        client(transport, waits).list_items(namespace="n")
    assert caught.value.retry_after == "120" and waits == [2.0]


def test_only_requests_that_never_arrived_are_repeated_for_writes() -> None:
    body = {"namespace": "n", "items": [{"item_id": "a"}]}
    upserted = httpx.Response(200, json={"namespace": "n", "upserted": 1})
    transport, seen = scripted(httpx.ConnectError("refused"), upserted)
    assert client(transport, []).upsert_items(body).upserted == 1 and len(seen) == 2
    transport, seen = scripted(httpx.ReadError("lost"), upserted)
    with pytest.raises(httpx.ReadError):
        client(transport, []).upsert_items(body)  # it may have been stored: not resent
    transport, seen = scripted(httpx.ReadError("lost"), OK)
    assert client(transport, []).list_items(namespace="n").items == [] and len(seen) == 2


def test_other_errors_are_not_retried_and_auth_headers_are_sent() -> None:
    transport, seen = scripted(busy(400))
    with pytest.raises(RecsysError):
        client(transport, [], bearer_token="t0k").list_items(namespace="n")
    assert len(seen) == 1
    assert seen[0].headers["authorization"] == "Bearer t0k"
    assert seen[0].headers["x-org-id"] == ORG
    with pytest.raises(ValueError):
        Client("http://x", api_key="a", bearer_token="b")


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 07 Dec 2026 12:00:03 GMT", now=now) == 3.0
    assert parse_retry_after("soon", now=now) is None
    assert RetryPolicy(attempts=2).wait_after(2, "1") is None
