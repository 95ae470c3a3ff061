"""Per-agent token buckets: pure arithmetic over a clock the caller passes in."""

from __future__ import annotations

from dataclasses import dataclass


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
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        return bucket

    def retry_after(self, key: str, now: float) -> float:
        """0 when an upload may go ahead now, else the seconds until one token is back."""
        bucket = self._refilled(key, now)
        return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / self.rate_per_s

    def consume(self, key: str, now: float) -> None:
        bucket = self._refilled(key, now)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)


def whole_seconds(wait: float) -> int:
    """A wait as the whole seconds of a ``Retry-After`` header: rounded up, at least 1."""
    return max(1, round(wait + 0.5))
