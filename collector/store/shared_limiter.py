"""``SharedLimiter``: rate-limit buckets in the shared database (``collector.store.limits``), from the event loop.

A module of its own because it runs the store through ``Database`` (``collector.store``), and the backends import
``limits`` for its table: in ``limits`` it would close an import cycle.
"""

from __future__ import annotations

from ..clock import Clock
from . import Database
from .limits import rate_consume, rate_wait


class SharedLimiter:
    """Buckets of ``scope`` in the shared database, on the wall clock (the one clock replicas share)."""

    def __init__(self, db: Database, scope: str, *, burst: int, per_minute: float, clock: Clock) -> None:
        self._db, self._scope, self._clock = db, scope, clock
        self._burst, self._rate_per_s = burst, per_minute / 60.0

    async def retry_after(self, key: str) -> float:
        now_s = self._clock().timestamp()
        return await self._db.run(rate_wait, self._scope, key, self._burst, self._rate_per_s, now_s)

    async def consume(self, key: str) -> None:
        now_s = self._clock().timestamp()
        await self._db.run(rate_consume, self._scope, key, self._burst, self._rate_per_s, now_s)
