"""Waiting in tests for state that signals nothing: another process, a file, a database row, a counter.

Where the code under test offers an event (``asyncio.Event``, a future, a callback), await that instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

POLL_S = 0.05


async def eventually(
    condition: Callable[[], object], within: float = 10.0, what: str = "the condition", in_thread: bool = False
) -> None:
    """Return once ``condition()`` is true; fail the test if it is not within ``within`` seconds.

    The deadline is part of what the test asserts (and names in its failure), so it is a parameter here rather than
    the caller's ``asyncio.timeout``. ``in_thread`` runs a blocking condition (a file, a database) off the loop.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if await asyncio.to_thread(condition) if in_thread else condition():
            return
        if loop.time() >= deadline:
            raise AssertionError(f"{what} did not hold within {within:g} s")
        await asyncio.sleep(POLL_S)
