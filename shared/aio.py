"""Small asyncio building blocks for long-lived tasks owned by async context managers."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable


async def cancel_and_wait(task: asyncio.Task[object] | None) -> None:
    """Cancel a task we own and wait until it has really ended."""
    if task is None or task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def reconnect_forever(
    session: Callable[[], Awaitable[None]],
    retry_on: type[Exception] | tuple[type[Exception], ...],
    *,
    min_s: float,
    max_s: float,
    logger: logging.Logger,
    what: str,
    after_session: Callable[[], None] | None = None,
) -> None:
    """Run ``session`` again and again: the caller owns the reconnect loop, with jittered exponential backoff.

    A session that returns resets the backoff; one that raises ``retry_on`` doubles it. Other errors end the loop.
    """
    delay = min_s
    while True:
        try:
            await session()
            delay = min_s
        except retry_on as exc:
            logger.info("%s ended: %s; retrying in %.1fs", what, exc, delay)
        if after_session is not None:
            after_session()
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, max_s)
