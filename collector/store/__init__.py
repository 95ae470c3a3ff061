"""The collector's storage: metadata in a store (SQLite or PostgreSQL), bundle bytes in a blob store.

``Database`` runs the synchronous ``Store`` on one dedicated thread, so the event loop never blocks on the
database and the store needs no locks: ``await db.run(Store.get_ticket, 42)``. What keeps the database's log
short runs beside it (``Backend.background_checkpoints``), so no call waits for that either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from functools import partial
from typing import Concatenate, ParamSpec, Self, TypeVar

from ..config import CollectorConfig
from .backends import Backend
from .backends.checkpoints import CHECKPOINT_INTERVAL_S
from .sql import Store

P = ParamSpec("P")
T = TypeVar("T")


def open_backend(config: CollectorConfig) -> Backend:
    """PostgreSQL when ``database_url`` names it, else the embedded SQLite file in ``data_dir``."""
    if config.database_url is not None:
        from .backends.postgres import PostgresBackend  # psycopg is needed only by those who use it

        return PostgresBackend(config.database_url)
    from .backends.sqlite import SqliteBackend

    return SqliteBackend(config.database_path)


def open_store(config: CollectorConfig) -> Store:
    """The configured store, its schema migrated to the newest version (for the CLI and for ``Database``)."""
    return Store(open_backend(config))


class Database:
    """Async access to the store; an async context manager that owns the store's thread."""

    def __init__(self, config: CollectorConfig, *, checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self._config = config
        self._checkpoint_interval_s = checkpoint_interval_s
        self._executor: ThreadPoolExecutor | None = None
        self._store: Store | None = None
        self._stack = AsyncExitStack()
        self.checkpoints: object | None = None  # what the backend runs beside the store (for tests to watch)

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        async with AsyncExitStack() as stack:  # what is open so far is closed again if a later step fails
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector-store")
            stack.callback(executor.shutdown, wait=True)
            store = await loop.run_in_executor(executor, open_store, self._config)
            stack.push_async_callback(loop.run_in_executor, executor, store.close)  # after the checkpoints' end
            checkpoints = await loop.run_in_executor(
                executor, store.backend.background_checkpoints, self._checkpoint_interval_s
            )
            if checkpoints is not None:
                self.checkpoints = await stack.enter_async_context(checkpoints)
            self._executor, self._store, self._stack = executor, store, stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._stack.aclose()
        finally:
            self._executor = self._store = self.checkpoints = None

    async def run(self, method: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._executor is None or self._store is None:
            raise RuntimeError("Database used outside 'async with'")
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, partial(_call, method, self._store, *args, **kwargs)
        )


def _call(method: Callable[Concatenate[Store, P], T], store: Store, *args: P.args, **kwargs: P.kwargs) -> T:
    """On the store's thread: one store call; a database that refuses writes or is gone is converted once, here."""
    try:
        store.backend.reconnect_if_lost()
        return method(store, *args, **kwargs)
    except Exception as exc:
        refusal = store.backend.refusal(exc)
        if refusal is None:
            raise
        raise refusal from exc


__all__ = ["Database", "Store", "open_store"]
