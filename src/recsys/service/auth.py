"""API keys (hashed at rest) and a token-bucket rate limiter per key, or per org without keys."""

from __future__ import annotations

import hmac
import math
import threading
from collections import OrderedDict
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

    def by_hash(self, digest: str) -> ApiKey | None:
        """The key whose hash a console session holds (None: the key was removed since)."""
        for key_hash, key in self._by_hash.items():
            if hmac.compare_digest(key_hash, digest):
                return key
        return None


@dataclass
class _Bucket:
    tokens: float
    updated: float


# Per process: each bucket costs a few hundred bytes, so the cap bounds the limiter at a few MiB.
MAX_BUCKETS = 10_000


class RateLimiter:
    """Token bucket: `rate_per_minute` refill, `burst` capacity. Time comes from `monotonic`.

    State is bounded: buckets are kept least recently used first; a bucket that has refilled to
    capacity is the same as no bucket, so it is dropped as soon as it is the oldest, and at
    `max_buckets` the oldest is dropped whatever its level (that key starts again from a full
    bucket — with auth off the key is the client-chosen org id, and unbounded state would let
    made-up ids grow memory without end)."""

    def __init__(
        self,
        *,
        rate_per_minute: float,
        burst: float,
        monotonic: Callable[[], float],
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        if max_buckets < 1:
            raise ValueError("max_buckets must be at least 1")
        self.rate_per_second = rate_per_minute / 60.0
        self.capacity = burst if burst > 0 else rate_per_minute
        self.monotonic = monotonic
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate_per_second > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, key: str) -> float:
        """Take one token for `key`. Returns 0 when allowed, else seconds until one is free."""
        now = self.monotonic()
        with self._lock:
            bucket = self._buckets.pop(key, None)
            self._evict(now)
            if bucket is None:
                bucket = _Bucket(tokens=self.capacity, updated=now)
            self._buckets[key] = bucket  # the newest end
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate_per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate_per_second

    def _evict(self, now: float) -> None:
        # Oldest first, so each call costs O(1) amortised: every bucket is dropped once.
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            refilled = oldest.tokens + (now - oldest.updated) * self.rate_per_second
            if refilled < self.capacity and len(self._buckets) < self.max_buckets:
                return
            self._buckets.popitem(last=False)


def retry_after_header(wait_seconds: float) -> str:
    return str(max(1, math.ceil(wait_seconds)))


__all__ = ["MAX_BUCKETS", "KeyRing", "RateLimiter", "retry_after_header"]
