"""When to ask again: 429 (rate limited) and 503 (the store is restarting or busy) after the
server's `Retry-After`, or with exponential backoff when it sends none; a connection that could
not be opened is retried for every method, a connection lost mid-request only for methods that
are safe to repeat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; waits double from `backoff_s`, and never exceed `max_wait_s`
    (a longer `Retry-After` is not waited for: the error is raised)."""

    attempts: int = 4
    backoff_s: float = 0.25
    max_wait_s: float = 30.0

    def wait_after(self, attempt: int, retry_after: str | None) -> float | None:
        """Seconds to wait before try `attempt + 1` (tries count from 1), None to give up."""
        if attempt >= self.attempts:
            return None
        wait = parse_retry_after(retry_after)
        if wait is None:
            wait = self.backoff_s * 2 ** (attempt - 1)
        return wait if wait <= self.max_wait_s else None

    def retries_status(self, status: int) -> bool:
        return status in RETRY_STATUSES

    @staticmethod
    def retries_error(method: str, error: httpx.TransportError) -> bool:
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return True  # nothing reached the server
        return method.upper() in IDEMPOTENT


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date (seconds from `now`)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


__all__ = ["RetryPolicy", "parse_retry_after"]
