"""The collector's storage: metadata in a store (SQLite or PostgreSQL), bundle bytes in a blob store.

``Database`` runs the synchronous ``Store`` on one dedicated thread, so the event loop never blocks on the
database and the store needs no locks: ``await db.run(Store.get_ticket, 42)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Concatenate, ParamSpec, Self, TypeVar

from ..config import CollectorConfig
from .backends import Backend
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

    def __init__(self, config: CollectorConfig) -> None:
        self._config = config
        self._executor: ThreadPoolExecutor | None = None
        self._store: Store | None = None

    async def __aenter__(self) -> Self:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector-store")
        self._store = await asyncio.get_running_loop().run_in_executor(self._executor, open_store, self._config)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._executor is not None and self._store is not None
        await asyncio.get_running_loop().run_in_executor(self._executor, self._store.close)
        self._executor.shutdown(wait=True)
        self._executor = self._store = None

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
