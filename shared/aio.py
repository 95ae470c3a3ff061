"""Small asyncio building blocks for long-lived tasks owned by async context managers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable


async def cancel_and_wait(task: asyncio.Task[object] | None) -> None:
    """Cancel a task we own and wait until it has really ended."""
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Backoff:
    """The wait before each reconnect attempt (a pure decision core).

    It doubles after every session that failed or did not last, up to ``max_s``, and starts again from ``min_s``
    after one that stayed established for ``healthy_after_s``: a hub kicked off a good session (a broker restart,
    a network blip) comes back at once however often it happened before.
    """

    def __init__(
        self,
        min_s: float,
        max_s: float,
        healthy_after_s: float,
        jitter: Callable[[], float] = lambda: random.uniform(0.5, 1.0),
    ) -> None:
        self.min_s, self.max_s, self.healthy_after_s = min_s, max_s, healthy_after_s
        self._jitter = jitter
        self._next = min_s

    def after_session(self, established_for_s: float | None) -> float:
        """The delay after a session that was established for ``established_for_s`` (None: never established)."""
        if established_for_s is not None and established_for_s >= self.healthy_after_s:
            self._next = self.min_s
        delay = self._next * self._jitter()
        self._next = min(self._next * 2, self.max_s)
        return delay


async def _moment_set(event: asyncio.Event, clock: Callable[[], float]) -> float:
    await event.wait()
    return clock()


async def reconnect_forever(
    session: Callable[[], Awaitable[None]],
    retry_on: type[Exception] | tuple[type[Exception], ...],
    *,
    min_s: float,
    max_s: float,
    logger: logging.Logger,
    what: str,
    after_session: Callable[[], None] | None = None,
    established: asyncio.Event | None = None,
    healthy_after_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run ``session`` again and again: the caller owns the reconnect loop, with jittered exponential backoff.

    ``established`` is set by the session once it is usable (and cleared by it or ``after_session``): a session
    that stayed established for ``healthy_after_s`` resets the backoff (``Backoff``), as does one that returns.
    A session that raises ``retry_on`` is retried; other errors end the loop.
    """
    backoff = Backoff(min_s, max_s, healthy_after_s)
    while True:
        watch = None if established is None else asyncio.create_task(_moment_set(established, clock))
        reason: Exception | None = None
        try:
            await session()
        except retry_on as exc:
            reason = exc
        finally:
            ended = clock()
            up_since = watch.result() if watch is not None and watch.done() and not watch.cancelled() else None
            await cancel_and_wait(watch)
        up_for = math.inf if reason is None else None if up_since is None else ended - up_since
        delay = backoff.after_session(up_for)
        if reason is not None:
            logger.info("%s ended: %s; retrying in %.1fs", what, reason, delay)
        if after_session is not None:
            after_session()
        await sleep(delay)
