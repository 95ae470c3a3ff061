"""The blocking-call test mode itself: code under test blocking on the loop is refused, a worker thread or the
harness is not."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.atomic_file import write_atomically
from tests.blocking import PROJECT, BlockingCallInLoop, blocking_calls_refused
from tests.waiting import eventually

# Functions compiled as if they were in agent/: the mode tells code under test from the harness by file.
_UNDER_TEST = """
import time

def tick():
    time.sleep(0)

async def read(path):
    with open(path) as handle:
        return handle.read()
"""


def _code_under_test() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(_UNDER_TEST, PROJECT + "agent/_blocking_example.py", "exec"), namespace)
    return namespace


async def test_a_loop_callback_is_refused_a_worker_thread_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    tick: Callable[[], None] = _code_under_test()["tick"]
    loop = asyncio.get_running_loop()
    with blocking_calls_refused(monkeypatch) as refused:
        await asyncio.to_thread(tick)  # a worker thread may block
        loop.call_soon(tick)  # as a task step or a message handed over by paho would run
        await eventually(lambda: refused, what="the callback's sleep refused")
    assert len(refused) == 1 and refused[0].startswith("time.sleep")


async def test_the_harness_may_block_but_a_coroutine_under_test_may_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "state"
    with blocking_calls_refused(monkeypatch) as refused:
        write_atomically(target, b"set up by the test")  # the harness calling a plain function of ours
        with pytest.raises(BlockingCallInLoop):
            await _code_under_test()["read"](target)
    assert len(refused) == 1 and refused[0].startswith("open")
