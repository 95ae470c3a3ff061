"""A test mode that fails on blocking calls made on the event loop's thread, as python-zeroconf's and Home
Assistant's suites do.

While ``no_blocking_in_loop`` is active, ``time.sleep``, opening a file (``open``, ``io.open``, hence every
``Path.read_text``/``write_bytes``), ``os.fsync`` and ``subprocess.run`` are wrapped: called from a thread that
is running an event loop, the call is recorded with where it came from and refused (``BlockingCallInLoop``).
Worker threads (``asyncio.to_thread``, paho's network thread) call them freely, and so may anyone for the
kernel's ``/proc`` and ``/sys`` files, a module's code run by its first import, and the test harness itself
(test and lab code calling them, directly or through plain functions: starting a broker, writing its accounts,
reading a file to assert on). What is refused is a blocking call made by a coroutine of the code under test
(``agent``, ``collector``, ``shared``) or by a task or loop callback. The test fails at teardown if
anything was recorded, even when the code under test swallowed the exception. The patched names are those a
slow SD card or a hung command turns into a stalled agent; CPU-bound work is caught by review, not here.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import io
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

PROJECT = str(Path(__file__).resolve().parent.parent) + os.sep
HARNESS = tuple(PROJECT + part + os.sep for part in ("tests", "lab"))
CODE_UNDER_TEST = tuple(PROJECT + part + os.sep for part in ("agent", "collector", "shared"))
ASYNC_CODE = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
# The kernel's own files answer from memory, never from a slow card (psutil reads them for host facts).
KERNEL_FILES = ("/proc/", "/sys/")


class BlockingCallInLoop(RuntimeError):
    pass


def _in_loop_thread() -> bool:
    return asyncio._get_running_loop() is not None


def _importing(stack: list[traceback.FrameSummary]) -> bool:
    """A module run on first import (mimetypes reading /etc/mime.types): once per process, not per request."""
    return any(frame.filename.startswith("<frozen importlib") for frame in stack)


def _by_the_harness(frame: FrameType | None) -> bool:
    """Test or lab code called the blocking function, directly or through plain functions of ours (a broker
    started, accounts written, a file read to assert on): the harness may wait. A coroutine of the code under
    test on the way, or no harness at all (a task, a loop callback), means the code under test blocked."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(HARNESS):
            return True
        if filename.startswith(CODE_UNDER_TEST) and frame.f_code.co_flags & ASYNC_CODE:
            return False
        frame = frame.f_back
    return False


@contextmanager
def blocking_calls_refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Yields the list of refused calls (each with its stack), filled while the context lasts."""
    refused: list[str] = []

    def guarded(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if _in_loop_thread() and not (args and str(args[0]).startswith(KERNEL_FILES)):
                stack = traceback.extract_stack()[:-1]
                if _importing(stack) or _by_the_harness(sys._getframe(1)):
                    return original(*args, **kwargs)
                where = "".join(traceback.format_list(stack[-8:]))
                refused.append(f"{name}{args[:1]!r} on the event loop:\n{where}")
                raise BlockingCallInLoop(f"{name} called on the event loop; use asyncio.to_thread")
            return original(*args, **kwargs)

        return call

    monkeypatch.setattr(time, "sleep", guarded("time.sleep", time.sleep))
    opener = guarded("open", builtins.open)
    monkeypatch.setattr(builtins, "open", opener)
    monkeypatch.setattr(io, "open", opener)
    monkeypatch.setattr(os, "fsync", guarded("os.fsync", os.fsync))
    monkeypatch.setattr(subprocess, "run", guarded("subprocess.run", subprocess.run))
    yield refused


@pytest.fixture
def no_blocking_in_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fails the test if the code under test blocked the event loop (see the module's docstring)."""
    with blocking_calls_refused(monkeypatch) as refused:
        yield
    assert not refused, "blocking calls on the event loop:\n\n" + "\n".join(refused)
