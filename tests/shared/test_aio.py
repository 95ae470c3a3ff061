"""Owned tasks: a crash is never silent, whether found by the supervisor or by the owner at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from shared.aio import OnCrash, Supervisor, cancel_and_wait


async def test_cancel_and_wait_reraises_the_error_of_a_task_that_already_ended() -> None:
    async def crash() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(crash())
    await asyncio.wait([task])
    with pytest.raises(RuntimeError, match="boom"):
        await cancel_and_wait(task)


async def test_cancel_and_wait_stops_a_running_task_quietly() -> None:
    task = asyncio.create_task(asyncio.Event().wait())
    await cancel_and_wait(task)
    assert task.cancelled()


async def test_the_owners_own_cancellation_is_not_swallowed() -> None:
    """The owner is cancelled while it waits for a child's slow cleanup: it must end cancelled, not go on."""
    cleanup_started, finish_cleanup = asyncio.Event(), asyncio.Event()

    async def child() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleanup_started.set()
            await finish_cleanup.wait()

    async def owner(task: asyncio.Task[None]) -> str:
        await cancel_and_wait(task)
        return "carried on"

    child_task = asyncio.create_task(child())
    await asyncio.sleep(0)
    owner_task = asyncio.create_task(owner(child_task))
    await cleanup_started.wait()
    owner_task.cancel()
    await asyncio.sleep(0)
    finish_cleanup.set()
    await asyncio.wait([owner_task, child_task])
    assert owner_task.cancelled()


async def test_a_restartable_task_is_logged_and_run_again(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    second_run = asyncio.Event()

    async def body() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise ValueError("first run fails")
        second_run.set()
        await asyncio.Event().wait()

    supervisor = Supervisor(logging.getLogger("test.supervisor"), min_s=0.01)
    supervisor.start("worker", body, OnCrash.RESTART)
    try:
        await asyncio.wait_for(second_run.wait(), 5)
    finally:
        await supervisor.close()
    crash = next(r for r in caplog.records if "worker crashed" in r.getMessage())
    assert crash.exc_info is not None and "first run fails" in str(crash.exc_info[1])
    assert supervisor.crashes == {"worker": 1} and not supervisor.fatal.is_set()


async def test_a_fatal_task_sets_fatal_and_is_not_restarted(caplog: pytest.LogCaptureFixture) -> None:
    runs = 0

    async def body() -> None:
        nonlocal runs
        runs += 1
        raise OSError("disk gone strange")

    supervisor = Supervisor(logging.getLogger("test.supervisor"), min_s=0.01)
    supervisor.start("sync", body, OnCrash.EXIT)
    try:
        await asyncio.wait_for(supervisor.fatal.wait(), 5)
    finally:
        await supervisor.close()
    assert runs == 1
    assert any(r.exc_info and "disk gone strange" in str(r.exc_info[1]) for r in caplog.records)


class _Part:
    """A component that owns its loops, as the agent's parts do."""

    def __init__(self, *bodies: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(body(), name=f"part-loop-{i}") for i, body in enumerate(bodies)
        ]

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return self._tasks


async def test_a_watched_loop_that_crashes_or_returns_sets_fatal_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crashes() -> None:
        raise ValueError("uploader bug")

    async def returns() -> None:
        return

    for body, what in ((crashes, "part-loop-0 crashed"), (returns, "part-loop-0 returned")):
        supervisor = Supervisor(logging.getLogger("test.supervisor"))
        part = _Part(body)
        supervisor.watch(part)
        await asyncio.wait_for(supervisor.fatal.wait(), 5)
        assert supervisor.crashes == {"part-loop-0": 1}
        assert any(what in r.getMessage() for r in caplog.records)
    assert any(r.exc_info and "uploader bug" in str(r.exc_info[1]) for r in caplog.records)


async def test_a_watched_loop_cancelled_by_its_owner_is_no_crash() -> None:
    supervisor = Supervisor(logging.getLogger("test.supervisor"))

    async def waits() -> None:
        await asyncio.Event().wait()

    part = _Part(waits)
    supervisor.watch(part)
    await asyncio.sleep(0)
    for task in part.background_tasks:
        await cancel_and_wait(task)
    await asyncio.sleep(0)
    assert supervisor.crashes == {"part-loop-0": 0} and not supervisor.fatal.is_set()
