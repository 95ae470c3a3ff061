"""SQLite's WAL checkpoints from a connection and thread of their own, so that no store call waits for one.

SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages: that commit then copies
the pages into the database file and fsyncs both files. On the build host this held the commit for 2–9 ms once
every few hundred commits, and with it every call queued on the store's one thread: a live request's audit entry,
an ingest batch (`docs/performance.md`, "Live request"). A serving store's connection turns the automatic
checkpoint off, and ``WalCheckpoints`` checkpoints every ``interval_s`` instead, in PASSIVE mode, which neither
waits for the store's reads and writes nor makes them wait.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from shared.aio import cancel_and_wait

_LOGGER = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 5.0  # at most ~5 s of writes wait in the WAL; every 1 s, the fsyncs slowed more commits


@dataclass(frozen=True, slots=True)
class WalState:
    """What one checkpoint found: the WAL's frames (pages written since it last started over) and how many of
    them are now in the database file."""

    frames: int
    copied: int


class WalCheckpoints:
    """Checkpoints the WAL of the database at ``path`` every ``interval_s`` while entered.

    A checkpoint that fails (a full disk) is logged once and tried again at every interval until one succeeds,
    which is logged too: meanwhile the WAL grows, and the store's reads and writes go on as before.
    """

    def __init__(self, path: Path, interval_s: float) -> None:
        self._path, self._interval_s = path, interval_s
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.passes = 0  # checkpoints done
        self.failures = 0  # checkpoints that failed, in all
        self.last: WalState | None = None

    async def __aenter__(self) -> Self:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector-checkpoints")
        try:
            self._connection = await asyncio.get_running_loop().run_in_executor(
                self._executor, sqlite3.connect, self._path
            )
        except BaseException:
            self._executor.shutdown(wait=True)
            raise
        self._task = asyncio.create_task(self._run(), name="wal-checkpoints")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._executor is not None and self._connection is not None
        try:
            await cancel_and_wait(self._task)
        finally:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._connection.close)
            self._executor.shutdown(wait=True)
            self._executor = self._connection = self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failing = False
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                self.last = await loop.run_in_executor(self._executor, self._checkpoint)
            except Exception as exc:  # a full disk, or a bug: either way the next interval tries again
                self.failures += 1
                if not failing:
                    _LOGGER.warning(
                        "the WAL cannot be checkpointed (it grows until it can): %s",
                        exc,
                        exc_info=not isinstance(exc, sqlite3.Error),
                    )
                failing = True
                continue
            if failing:
                _LOGGER.info("the WAL is checkpointed again")
            failing = False
            self.passes += 1

    def _checkpoint(self) -> WalState:
        """On the checkpoints' thread."""
        assert self._connection is not None
        _busy, frames, copied = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return WalState(frames=frames, copied=copied)
