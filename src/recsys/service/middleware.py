"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task per request).

One pass per request: request id in and out (and on every log line meanwhile), worker id out,
body size limit, request metrics and the access log line by route template.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys.service.errors import BodyTooLarge
from recsys.service.logs import REQUEST_ID, log_access
from recsys.service.metrics import ServiceMetrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServiceMetrics,
        max_body_bytes: int,
        access_log: bool = False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        self.worker_id = worker_id()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        context = REQUEST_ID.set(request_id)  # on every log line of this request
        header_value = request_id.encode("latin-1")
        started = time.perf_counter()
        status_holder = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", header_value))
                headers.append((b"x-recsys-worker", self.worker_id))
                message = {**message, "headers": headers}
            await send(message)

        declared = _content_length(scope)
        try:
            if declared is not None and declared > self.max_body_bytes:
                await _reject_too_large(send_with_id, request_id, self.max_body_bytes)
            else:
                await self.app(scope, self._limited(receive), send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, template, str(status_holder[0])).inc()
            elapsed = time.perf_counter() - started
            self.metrics.latency.labels(method, template).observe(elapsed)
            if self.access_log:
                log_access(
                    method=method,
                    route=template,
                    status=status_holder[0],
                    seconds=elapsed,
                    org_id=_org_id(scope),
                )
            REQUEST_ID.reset(context)

    def _limited(self, receive: Receive) -> Receive:
        limit = self.max_body_bytes
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return limited_receive


def worker_id() -> bytes:
    """An opaque id for this app instance, sent as `X-Recsys-Worker` on every response.

    `recsys serve --workers N` builds one app per worker process, so the header tells which
    process answered (operators checking that a change reached every worker; the multi-worker
    tests). Random rather than the pid: it says nothing about the host, and a restarted worker
    never reuses an old id.
    """
    return secrets.token_hex(8).encode("ascii")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            return text if _REQUEST_ID.match(text) else None
    return None


def _org_id(scope: Scope) -> str | None:
    """The org the request named, if it is a well-formed one (the access log never echoes
    arbitrary header text)."""
    for name, value in scope.get("headers", []):
        if name == b"x-org-id":
            try:
                return str(uuid.UUID(value.decode("latin-1").strip()))
            except ValueError:
                return None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject_too_large(send: Any, request_id: str, limit: int) -> None:
    body = orjson.dumps(
        {
            "code": "payload_too_large",
            "message": f"request body exceeds {limit} bytes",
            "details": {"max_bytes": limit},
            "request_id": request_id,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["RequestContextMiddleware"]
