"""The embedded backend: one SQLite file in WAL mode, the default for a single machine.

Writers take SQLite's one write lock (``BEGIN IMMEDIATE``), so a transaction never meets a concurrent change.
Ticket events and the audit log are append-only: triggers refuse UPDATE and DELETE on them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ...errors import StorageFailed
from ..connectors import SCHEMA as CONNECTORS_SCHEMA
from ..contacts import SCHEMA as CONTACTS_SCHEMA
from ..fleet_facts import SCHEMA as FLEET_FACTS_SCHEMA
from ..limits import schema as rate_buckets_schema
from ..outbox import SCHEMA as OUTBOX_SCHEMA
from ..search import SCHEMA as SEARCH_SCHEMA
from . import Dialect, Duty
from .checkpoints import WalCheckpoints

SCHEMA = """
CREATE TABLE IF NOT EXISTS households (
    id TEXT PRIMARY KEY, pseudonym_key TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrol_tokens (
    token_hash TEXT PRIMARY KEY, household TEXT NOT NULL REFERENCES households(id),
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL, used_at TEXT, used_by TEXT);
CREATE TABLE IF NOT EXISTS agents (
    agent_id TEXT PRIMARY KEY, household TEXT NOT NULL REFERENCES households(id), hostname TEXT NOT NULL,
    public_key TEXT NOT NULL, key_id TEXT NOT NULL, enrolled_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, household TEXT,
    token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, password_hash TEXT);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), csrf TEXT NOT NULL,
    expires_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT, household TEXT NOT NULL, intake TEXT NOT NULL,
    state TEXT NOT NULL, priority TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL,
    occurred_from TEXT, occurred_to TEXT, grp TEXT, partner TEXT);
CREATE INDEX IF NOT EXISTS tickets_household ON tickets(household, state);
CREATE TABLE IF NOT EXISTS bundles (
    bundle_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, household TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, created_at TEXT NOT NULL, received_at TEXT NOT NULL, trigger TEXT NOT NULL,
    window_start TEXT NOT NULL, window_end TEXT NOT NULL, key_id TEXT NOT NULL,
    ticket_id INTEGER REFERENCES tickets(id), duplicate_of TEXT);
CREATE INDEX IF NOT EXISTS bundles_unattached ON bundles(household) WHERE ticket_id IS NULL;
CREATE INDEX IF NOT EXISTS bundles_ticket ON bundles(ticket_id);
CREATE INDEX IF NOT EXISTS bundles_capture ON bundles(agent_id, window_start, window_end);
CREATE TABLE IF NOT EXISTS ticket_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    ts TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ticket_events_ticket ON ticket_events(ticket_id, id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS ticket_events_append_only_u BEFORE UPDATE ON ticket_events
    BEGIN SELECT RAISE(ABORT, 'ticket events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS ticket_events_append_only_d BEFORE DELETE ON ticket_events
    BEGIN SELECT RAISE(ABORT, 'ticket events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_u BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_d BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def _baseline(conn: sqlite3.Connection) -> None:
    """Version 1: the schema as it was before versions were kept. ``IF NOT EXISTS`` and the column check make
    it safe on a file from any earlier release, which gets the columns added since it was created."""
    conn.executescript(SCHEMA + CONTACTS_SCHEMA + OUTBOX_SCHEMA + SEARCH_SCHEMA)
    for table, column in (
        ("tickets", "grp"),
        ("tickets", "partner"),
        ("users", "password_hash"),
        ("bundles", "duplicate_of"),
    ):
        names = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in names:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")


def _rate_buckets(conn: sqlite3.Connection) -> None:
    """Version 2: rate-limit buckets (used when replicas share a database; the table costs nothing here)."""
    conn.executescript(rate_buckets_schema("REAL"))


def _helpdesk_links(conn: sqlite3.Connection) -> None:
    """Version 3: links to tickets in the helpdesks the connectors deliver to, and the download-link key."""
    conn.executescript(CONNECTORS_SCHEMA)


def _fleet_facts(conn: sqlite3.Connection) -> None:
    """Version 4: what each bundle says about devices, firmware and causes (the fleet page's index); bundles
    stored before it are indexed once at start (``collector.fleet.backfill``)."""
    conn.executescript(FLEET_FACTS_SCHEMA)


# Numbered migrations, applied in order at start; a new one is appended, never edited once released.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_baseline, _rate_buckets, _helpdesk_links, _fleet_facts]

DISK_REFUSED = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY})  # primary result codes


class SqliteBackend:
    """Not thread-safe: one owner thread (``collector.store.Database`` gives it one)."""

    dialect = Dialect.SQLITE
    integrity_error = sqlite3.IntegrityError

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.row_factory = sqlite3.Row
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes; WAL keeps it consistent
        self.connection.execute("PRAGMA foreign_keys=ON")
        self.connection.execute("PRAGMA busy_timeout=5000")  # admin commands share the file with a running server
        self._migrate()

    def _migrate(self) -> None:
        conn = self.connection
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
        for version, migration in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            migration(conn)  # executescript commits as it goes: each step is idempotent instead
            conn.execute("INSERT OR IGNORE INTO schema_version VALUES (?, ?)", (version, datetime.now(UTC).isoformat()))

    def reconnect_if_lost(self) -> None:
        pass  # a file does not go away

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
            self.connection.execute("COMMIT")
        except BaseException:
            if self.connection.in_transaction:  # a COMMIT the disk refused leaves it open: never wedge the store
                self.connection.execute("ROLLBACK")
            raise

    @staticmethod
    def json_text(column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    @staticmethod
    def try_lead(duty: Duty) -> bool:
        return True  # one file, one server: it leads everything

    @staticmethod
    def refusal(exc: BaseException) -> StorageFailed | None:
        if isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode & 0xFF in DISK_REFUSED:
            return StorageFailed(f"the database cannot be written: {exc}")
        return None

    def background_checkpoints(self, interval_s: float) -> WalCheckpoints:
        self.connection.execute("PRAGMA wal_autocheckpoint=0")
        return WalCheckpoints(self.path, interval_s)

    def close(self) -> None:
        self.connection.close()
