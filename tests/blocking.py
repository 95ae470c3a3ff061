"""A test mode that fails on blocking calls made on the event loop's thread, as python-zeroconf's and Home
Assistant's suites do.

While ``no_blocking_in_loop`` is active, ``time.sleep``, opening a file (``open``, ``io.open``, hence every
``Path.read_text``/``write_bytes``), ``os.fsync`` and ``subprocess.run`` are wrapped: called from a thread that
is running an event loop, the call is recorded with where it came from and refused (``BlockingCallInLoop``).
Worker threads (``asyncio.to_thread``, paho's network thread) call them freely, and so may anyone for the
kernel's ``/proc`` and ``/sys`` files, and a module's code run by its first import. The test fails at teardown if
anything was recorded, even when the code under test swallowed the exception. The patched names are those a
slow SD card or a hung command turns into a stalled agent; CPU-bound work is caught by review, not here.
"""

from __future__ import annotations

import asyncio
import builtins
import io
import os
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


# The kernel's own files answer from memory, never from a slow card (psutil reads them for host facts).
KERNEL_FILES = ("/proc/", "/sys/")


class BlockingCallInLoop(RuntimeError):
    pass


def _in_loop_thread() -> bool:
    return asyncio._get_running_loop() is not None


def _importing(stack: traceback.StackSummary) -> bool:
    """A module run on first import (mimetypes reading /etc/mime.types): once per process, not per request."""
    return any(frame.filename.startswith("<frozen importlib") for frame in stack)


@contextmanager
def blocking_calls_refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Yields the list of refused calls (each with its stack), filled while the context lasts."""
    refused: list[str] = []

    def guarded(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if _in_loop_thread() and not (args and str(args[0]).startswith(KERNEL_FILES)):
                stack = traceback.extract_stack()[:-1]
                if _importing(stack):
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
