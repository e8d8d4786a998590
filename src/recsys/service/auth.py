"""API keys (hashed at rest) and a token-bucket rate limiter per key, or per org without keys."""

from __future__ import annotations

import hmac
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from recsys.config.settings import ApiKey, hash_api_key


class KeyRing:
    """Looks a presented key up by its hash; constant-time comparison of digests."""

    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
        self._by_hash = {key.key_hash: key for key in keys}

    def find(self, presented: str) -> ApiKey | None:
        digest = hash_api_key(presented)
        for key_hash, key in self._by_hash.items():
            if hmac.compare_digest(key_hash, digest):
                return key
        return None


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket: `rate_per_minute` refill, `burst` capacity. Time comes from `monotonic`."""

    def __init__(
        self, *, rate_per_minute: float, burst: float, monotonic: Callable[[], float]
    ) -> None:
        self.rate_per_second = rate_per_minute / 60.0
        self.capacity = burst if burst > 0 else rate_per_minute
        self.monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate_per_second > 0

    def acquire(self, key: str) -> float:
        """Take one token for `key`. Returns 0 when allowed, else seconds until one is free."""
        now = self.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=self.capacity, updated=now)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate_per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate_per_second


def retry_after_header(wait_seconds: float) -> str:
    return str(max(1, math.ceil(wait_seconds)))


__all__ = ["KeyRing", "RateLimiter", "retry_after_header"]
