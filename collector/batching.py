"""Micro-batches: requests that arrive while a batch is being handled are handled together in the next one.

No timer and no waiting for company: a lone item is taken at once, so an idle collector answers as before; under
load, what queued meanwhile shares one trip (one process-pool round trip, one transaction, one fsync wave).
Each item still gets its own answer, a result or its own exception: one bad item never fails its batch-mates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# What the handler returns for each item, in order: its result, or the exception to raise for it alone.
BatchHandler = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


class Batcher(Generic[T, R]):
    """``await batcher.submit(item)``; ``lanes`` batches are handled at once (one per verify worker, one for a
    single-threaded store), each of at most ``max_batch`` items. An async context manager owning its tasks."""

    def __init__(self, handler: BatchHandler[T, R], *, lanes: int = 1, max_batch: int = 16) -> None:
        self._handler = handler
        self._lanes = lanes
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._idle = 0  # lanes waiting for work

    async def __aenter__(self) -> Self:
        self._tasks = [asyncio.create_task(self._lane()) for _ in range(self._lanes)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        while not self._queue.empty():  # submitted after the lanes stopped: nobody will answer them
            _, future = self._queue.get_nowait()
            future.cancel()

    async def submit(self, item: T) -> R:
        if not self._tasks:
            raise RuntimeError("Batcher used outside 'async with'")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    def _take(self, first: tuple[T, asyncio.Future[R]]) -> list[tuple[T, asyncio.Future[R]]]:
        """The first item and what else waits, shared with the lanes that wait too, so none idles while one
        carries everything."""
        share = -(-(self._queue.qsize() + 1) // (self._idle + 1))
        batch = [first]
        while len(batch) < min(share, self._max_batch) and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _lane(self) -> None:
        while True:
            self._idle += 1
            try:
                first = await self._queue.get()
            finally:
                self._idle -= 1
            batch = self._take(first)
            waiting = [(item, future) for item, future in batch if not future.cancelled()]
            if not waiting:
                continue
            try:
                answers = await self._handler([item for item, _ in waiting])
            except BaseException as exc:
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), answer in zip(waiting, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
