"""Token buckets: per agent (uploads), per account and per address (sign-ins).

The arithmetic is pure (``refilled``, ``wait_for_token``). The buckets live in this process's memory
(``LocalLimiter``, one collector) or in the shared database (``store.shared_limiter.SharedLimiter``, several replicas:
whichever replica answers, an agent or a guesser meets the same bucket). Both are ``Limiter``s to the handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


def refilled(tokens: float, updated: float, now: float, burst: int, rate_per_s: float) -> float:
    """The tokens a bucket holds at ``now`` (never more than ``burst``; a clock that stepped back adds none)."""
    return min(float(burst), tokens + max(0.0, now - updated) * rate_per_s)


def wait_for_token(tokens: float, rate_per_s: float) -> float:
    """0 when a token is there, else the seconds until one is."""
    return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate_per_s


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``burst`` uploads back to back, refilled at ``per_minute``; bounded to ``max_keys`` buckets."""

    def __init__(self, *, burst: int, per_minute: float, max_keys: int = 100_000) -> None:
        self.burst = burst
        self.rate_per_s = per_minute / 60.0
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                # Forget the fullest buckets first: they are the ones closest to their default anyway.
                for stale in sorted(self._buckets, key=lambda k: -self._buckets[k].tokens)[: self._max_keys // 10 or 1]:
                    del self._buckets[stale]
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = refilled(bucket.tokens, bucket.updated, now, self.burst, self.rate_per_s)
        bucket.updated = now
        return bucket

    def retry_after(self, key: str, now: float) -> float:
        """0 when an upload may go ahead now, else the seconds until one token is back."""
        return wait_for_token(self._refilled(key, now).tokens, self.rate_per_s)

    def consume(self, key: str, now: float) -> None:
        bucket = self._refilled(key, now)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)


class Limiter(Protocol):
    async def retry_after(self, key: str) -> float:
        """0 when the action may go ahead now, else the seconds until one token is back."""

    async def consume(self, key: str) -> None: ...


class LocalLimiter:
    """Buckets in this process, on its monotonic clock."""

    def __init__(self, limiter: RateLimiter, monotonic: Callable[[], float]) -> None:
        self._limiter, self._monotonic = limiter, monotonic

    async def retry_after(self, key: str) -> float:
        return self._limiter.retry_after(key, self._monotonic())

    async def consume(self, key: str) -> None:
        self._limiter.consume(key, self._monotonic())


def whole_seconds(wait: float) -> int:
    """A wait as the whole seconds of a ``Retry-After`` header: rounded up, at least 1."""
    return max(1, round(wait + 0.5))
