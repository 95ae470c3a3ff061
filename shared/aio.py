"""Small asyncio building blocks for long-lived tasks owned by async context managers."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Any, Protocol


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a task we own and wait until it has really ended.

    A task that already ended with an error re-raises it here: its owner is the one place that can report it,
    and a crash found at shutdown must not pass for a clean stop. Only the cancellation we asked for is
    swallowed: if the owner itself is cancelled while it waits, that cancellation goes on (else an owner
    cancelled in its cleanup would carry on as if nothing happened, a reconnect loop forever).
    """
    if task is None:
        return
    current = asyncio.current_task()
    cancels_before = current.cancelling() if current is not None else 0
    if not task.done():
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > cancels_before:
            raise


async def wait_first(*events: asyncio.Event) -> None:
    """Return as soon as one of ``events`` is set."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            await cancel_and_wait(waiter)


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


class OnCrash(StrEnum):
    """What a supervised task's crash leads to."""

    RESTART = "restart"  # the task is a loop over state that outlives it: run it again after a backoff
    EXIT = "exit"  # its state is suspect after a crash: the owner stops with a non-zero status, systemd restarts


class OwnsTasks(Protocol):
    """A component that starts long-lived loops when entered and cancels them itself when left."""

    @property
    def background_tasks(self) -> Sequence[asyncio.Task[None]]: ...


def started(*tasks: asyncio.Task[None] | None) -> list[asyncio.Task[None]]:
    """The tasks a component has started so far (for ``OwnsTasks.background_tasks``)."""
    return [task for task in tasks if task is not None]


class Supervisor:
    """Owns long-lived background tasks: a crash is logged with its traceback, then the task is restarted with
    backoff (``OnCrash.RESTART``; back to ``min_s`` after a run that lasted ``healthy_after_s``) or ``fatal`` is
    set (``OnCrash.EXIT``) for the owner to stop on. A task that returns is a crash too: these loops never end.
    ``close`` cancels every task and waits for it.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        min_s: float = 0.5,
        max_s: float = 60.0,
        healthy_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._backoff = (min_s, max_s, healthy_after_s)
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self.fatal = asyncio.Event()
        self.crashes: dict[str, int] = {}  # task name -> crashes so far

    def start(self, name: str, body: Callable[[], Awaitable[None]], on_crash: OnCrash) -> None:
        self.crashes[name] = 0
        self._tasks.append(asyncio.create_task(self._supervise(name, body, on_crash), name=name))

    async def _supervise(self, name: str, body: Callable[[], Awaitable[None]], on_crash: OnCrash) -> None:
        backoff = Backoff(*self._backoff)
        while True:
            started = self._clock()
            try:
                await body()
                self._logger.error("background task %s returned, which it never should", name)
            except Exception:
                self._logger.exception("background task %s crashed", name)
            self.crashes[name] += 1
            if on_crash is OnCrash.EXIT:
                self._stop_for(name)
                return
            delay = backoff.after_session(self._clock() - started)
            self._logger.warning("restarting background task %s in %.1fs", name, delay)
            await asyncio.sleep(delay)

    def watch(self, owner: OwnsTasks) -> None:
        """Loops a component owns and cancels itself: a crash, or a return (they never end), is logged and sets
        ``fatal`` as ``OnCrash.EXIT`` does: the loop's state is the component's, and only a fresh start restores it.
        Without this, a dead uploader or monitor would go unnoticed until the agent stopped."""
        for task in owner.background_tasks:
            self.crashes[task.get_name()] = 0
            task.add_done_callback(self._watched_task_ended)

    def _watched_task_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        name, error = task.get_name(), task.exception()
        if error is None:
            self._logger.error("background task %s returned, which it never should", name)
        else:
            self._logger.error("background task %s crashed", name, exc_info=error)
        self.crashes[name] += 1
        self._stop_for(name)

    def _stop_for(self, name: str) -> None:
        self._logger.error("background task %s cannot be restarted in place: the agent stops", name)
        self.fatal.set()

    async def close(self) -> None:
        for task in reversed(self._tasks):
            await cancel_and_wait(task)
        self._tasks.clear()
