"""The one way tests wait for something to happen: poll a condition until it holds or time runs out.

For state that signals nothing (another process, a file, a database row, a counter); where the code under test
offers an event (``asyncio.Event``, a future, a callback), await that instead.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def eventually(
    condition: Callable[[], Any],
    *,
    within: float = 10.0,
    interval: float = 0.05,
    what: str | None = None,
    blocking: bool = False,
) -> Any:
    """Wait until ``condition()`` is truthy and return its value; ``AssertionError`` naming ``what`` after
    ``within`` seconds. ``condition`` may be a coroutine function (it asks an HTTP endpoint). ``blocking`` runs
    it in a thread (it reads files or runs a command), so the event loop the code under test runs on is never
    held up by the test's polling."""
    try:
        async with asyncio.timeout(within):
            while True:
                value = await asyncio.to_thread(condition) if blocking else condition()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"{what or 'the condition'} did not happen within {within:g}s") from None
