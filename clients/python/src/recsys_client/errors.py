"""The one exception the client raises for an answer it could not use."""

from __future__ import annotations

from typing import Any


class RecsysError(Exception):
    """A non-2xx answer (after retries): the server's `code`, `message`, `details` and
    `request_id` (quote it when reporting a problem)."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        body: Any,
        *,
        retry_after: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        self.retry_after = retry_after
        document = body if isinstance(body, dict) else {}
        self.code: str | None = document.get("code")
        self.message: str = str(document.get("message") or body or "")[:500]
        self.details: dict[str, Any] = document.get("details") or {}
        self.request_id: str | None = document.get("request_id")
        super().__init__(f"{method} {path} -> {status} {self.code or ''}: {self.message}")


__all__ = ["RecsysError"]
