"""Full-text search over tickets: the intake (household, customer, device, firmware, symptom, environment) and
every reply, note and update. Triggers keep the index as the tickets and events are written, so nothing else has
to remember it; a database that predates the index is filled once when it is created.

SQLite indexes with FTS5 (the schema below); PostgreSQL keeps the same rows in a table with a GIN index over
``to_tsvector('simple', body)`` (``backends.postgres``). Both match every word as a prefix of a token."""

from __future__ import annotations

from typing import Any

from .access import StoreAccess
from .backends import Dialect

_INTAKE_TEXT = (
    "t.household || ' ' || coalesce(json_extract(t.intake, '$.customer'), '') || ' ' || "
    "json_extract(t.intake, '$.device') || ' ' || coalesce(json_extract(t.intake, '$.firmware'), '') || ' ' || "
    "json_extract(t.intake, '$.symptom') || ' ' || coalesce(json_extract(t.intake, '$.environment'), '')"
)
_TEXT_KINDS = "('note', 'public_reply', 'internal_note', 'update')"

SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS ticket_search USING fts5(ticket_id UNINDEXED, kind UNINDEXED, body);
INSERT INTO ticket_search (ticket_id, kind, body)
    SELECT t.id, 'intake', {_INTAKE_TEXT} FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM ticket_search)
    UNION ALL SELECT e.ticket_id, e.kind, json_extract(e.data, '$.text') FROM ticket_events e
    WHERE e.kind IN {_TEXT_KINDS} AND NOT EXISTS (SELECT 1 FROM ticket_search);
CREATE TRIGGER IF NOT EXISTS ticket_search_intake AFTER INSERT ON tickets BEGIN
    INSERT INTO ticket_search (ticket_id, kind, body) SELECT t.id, 'intake', {_INTAKE_TEXT} FROM tickets t WHERE t.id = new.id;
END;
CREATE TRIGGER IF NOT EXISTS ticket_search_text AFTER INSERT ON ticket_events WHEN new.kind IN {_TEXT_KINDS} BEGIN
    INSERT INTO ticket_search (ticket_id, kind, body) VALUES (new.ticket_id, new.kind, json_extract(new.data, '$.text'));
END;
"""


def match_expression(words: str) -> str:
    """The user's words as FTS5 prefix terms, each quoted: no input is ever FTS5 syntax (so never an error)."""
    printable = "".join(char if char.isprintable() else " " for char in words)  # FTS5 cannot take NUL and friends
    return " ".join('"' + word.replace('"', '""') + '"*' for word in printable.split())


def search_tickets(
    store: StoreAccess, words: str, *, partner: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Tickets matching every word, best first, each with a snippet of the best matching text."""
    if store.backend.dialect is Dialect.POSTGRESQL:
        rows = _postgres_rows(store, words, partner, limit * 4)
    else:
        expression = match_expression(words)
        rows = [] if not expression else _sqlite_rows(store, expression, partner, limit * 4)
    best: dict[int, dict[str, Any]] = {}
    for row in rows:
        best.setdefault(row["ticket_id"], dict(row))
    return list(best.values())[:limit]


def _sqlite_rows(store: StoreAccess, expression: str, partner: str | None, limit: int) -> list[Any]:
    return store._conn.execute(
        "SELECT s.ticket_id, s.kind, snippet(ticket_search, 2, '[', ']', '…', 12) AS snippet, bm25(ticket_search) AS score,"
        " t.state, t.priority, json_extract(t.intake, '$.device') AS device, t.household FROM ticket_search s"
        " JOIN tickets t ON t.id = s.ticket_id WHERE ticket_search MATCH ? AND (? IS NULL OR t.partner = ?)"
        " ORDER BY score LIMIT ?",
        (expression, partner, partner, limit),
    ).fetchall()


def tsquery_expression(lexemes: list[str]) -> str:
    """Lexemes as a ``to_tsquery`` text of quoted prefix terms, all required: no input is ever tsquery syntax."""
    return " & ".join("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "':*" for lexeme in lexemes)


def _postgres_rows(store: StoreAccess, words: str, partner: str | None, limit: int) -> list[Any]:
    # The words go through the same parser as the indexed text, so both split them alike (e.g. "router_reboot").
    printable = "".join(char if char.isprintable() else " " for char in words)
    lexemes = [
        row[0]
        for row in store._conn.execute("SELECT unnest(tsvector_to_array(to_tsvector('simple', ?)))", (printable,))
    ]
    if not lexemes:
        return []
    return store._conn.execute(
        "SELECT s.ticket_id, s.kind, ts_headline('simple', s.body, q, 'StartSel=[, StopSel=], MaxWords=12, MinWords=4')"
        " AS snippet, -ts_rank(to_tsvector('simple', coalesce(s.body, '')), q) AS score, t.state, t.priority,"
        " (t.intake::jsonb ->> 'device') AS device, t.household"
        " FROM ticket_search s JOIN tickets t ON t.id = s.ticket_id, to_tsquery('simple', ?) q"
        " WHERE to_tsvector('simple', coalesce(s.body, '')) @@ q AND (?::text IS NULL OR t.partner = ?)"
        " ORDER BY score, s.ticket_id LIMIT ?",
        (tsquery_expression(lexemes), partner, partner, limit),
    ).fetchall()
