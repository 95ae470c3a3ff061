"""Where the store's SQL runs: the protocol every backend implements (``collector.store.open_store`` picks one).

``collector.store.sql.Store`` holds all of the collector's queries once, in the SQL both databases accept
(``?`` placeholders, ``ON CONFLICT``, ``RETURNING``); a backend supplies the connection, the transaction, the
schema and its numbered migrations, and the few expressions that differ (JSON fields, full-text search).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from enum import StrEnum
from typing import Any, Protocol

from ...errors import CollectorError


class Dialect(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Duty(StrEnum):
    """Background work that exactly one replica does at a time."""

    SLA_SCAN = "sla-scan"
    OUTBOX = "outbox"


class Row(Protocol):
    """A result row, read by column name or position (``sqlite3.Row`` is one)."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...


class Backend(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    @property
    def integrity_error(self) -> type[Exception]:
        """What a UNIQUE violation or an append-only trigger's refusal raises."""

    @property
    def connection(self) -> Connection:
        """Statements outside ``transaction()`` each commit on their own."""

    def reconnect_if_lost(self) -> None:
        """Called before each use: a server connection that was lost is opened again (its leadership is gone)."""

    def transaction(self) -> AbstractContextManager[Connection]:
        """One write transaction; writers are serialised (as SQLite's single writer does) across processes."""

    def json_text(self, column: str, key: str) -> str:
        """An SQL expression: the text of top-level field ``key`` of the JSON held in ``column``."""

    def try_lead(self, duty: Duty) -> bool:
        """Whether this process does (or now takes over) ``duty``; it keeps it until its connection ends."""

    def refusal(self, exc: BaseException) -> CollectorError | None:
        """What ``exc`` means to a client when the database, not the request, is at fault (disk full: 507,
        server gone: 503); None for anything else (a bug, left to the error middleware)."""

    def background_checkpoints(self, interval_s: float) -> AbstractAsyncContextManager[object] | None:
        """For a server, on the store's thread: what keeps the database's log short from a thread of its own while
        entered, the store's own commits no longer doing it (SQLite's WAL checkpoints); None where the database
        server does that itself."""

    def close(self) -> None: ...
