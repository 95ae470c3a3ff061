"""The collector's storage: metadata in a store, bundle bytes in a blob store.

``Database`` runs the synchronous ``SqliteStore`` on one dedicated thread, so the event loop never blocks
on SQLite and the store needs no locks: ``await db.run(SqliteStore.get_ticket, 42)``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Concatenate, ParamSpec, Self, TypeVar

from ..errors import StorageFailed
from .sqlite import SqliteStore

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """Async access to the store; an async context manager that owns the store's thread."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor: ThreadPoolExecutor | None = None
        self._store: SqliteStore | None = None

    async def __aenter__(self) -> Self:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector-store")
        self._store = await asyncio.get_running_loop().run_in_executor(self._executor, SqliteStore, self._path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._executor is not None and self._store is not None
        await asyncio.get_running_loop().run_in_executor(self._executor, self._store.close)
        self._executor.shutdown(wait=True)
        self._executor = self._store = None

    async def run(self, method: Callable[Concatenate[SqliteStore, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._executor is None or self._store is None:
            raise RuntimeError("Database used outside 'async with'")
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, partial(method, self._store, *args, **kwargs)
            )
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in DISK_REFUSED:
                raise
            raise StorageFailed(f"the database cannot be written: {exc}") from exc


DISK_REFUSED = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY})  # primary result codes


__all__ = ["Database", "SqliteStore"]
