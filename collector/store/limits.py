"""Rate-limit buckets in the database, shared by every replica (see ``collector.ratelimit``): the table and its
queries; ``collector.store.shared_limiter.SharedLimiter`` uses them from the event loop."""

from __future__ import annotations

from ..ratelimit import refilled, wait_for_token
from .access import StoreAccess
from .backends import Connection


def schema(double: str) -> str:
    """The bucket table in a dialect's name for a 64-bit float (SQLite ``REAL``, PostgreSQL ``DOUBLE PRECISION``)."""
    return f"""
CREATE TABLE IF NOT EXISTS rate_buckets (
    scope TEXT NOT NULL, key TEXT NOT NULL, tokens {double} NOT NULL, updated {double} NOT NULL,
    PRIMARY KEY (scope, key));
CREATE INDEX IF NOT EXISTS rate_buckets_updated ON rate_buckets(scope, updated);
"""


def _tokens(conn: Connection, scope: str, key: str, burst: int, rate_per_s: float, now_s: float) -> float:
    row = conn.execute("SELECT tokens, updated FROM rate_buckets WHERE scope = ? AND key = ?", (scope, key)).fetchone()
    return float(burst) if row is None else refilled(row["tokens"], row["updated"], now_s, burst, rate_per_s)


def rate_wait(store: StoreAccess, scope: str, key: str, burst: int, rate_per_s: float, now_s: float) -> float:
    """The wait before ``key`` may act (0 = now): a read, no write transaction."""
    return wait_for_token(_tokens(store._conn, scope, key, burst, rate_per_s, now_s), rate_per_s)


def rate_consume(store: StoreAccess, scope: str, key: str, burst: int, rate_per_s: float, now_s: float) -> None:
    """Take a token from ``key``'s bucket (never below zero), in one transaction."""
    with store._tx() as conn:
        tokens = max(0.0, _tokens(conn, scope, key, burst, rate_per_s, now_s) - 1.0)
        # Buckets untouched long enough to be full again are as good as absent: the table stays small.
        conn.execute("DELETE FROM rate_buckets WHERE scope = ? AND updated < ?", (scope, now_s - burst / rate_per_s))
        conn.execute(
            "INSERT INTO rate_buckets VALUES (?, ?, ?, ?) ON CONFLICT (scope, key) DO UPDATE SET"
            " tokens = excluded.tokens, updated = excluded.updated",
            (scope, key, tokens, now_s),
        )
