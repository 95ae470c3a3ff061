"""The durable outbox's tables: jobs keyed by an idempotency key, their attempts (the delivery log), and the
cursor over ticket events that jobs are planned from.

Planning reads ticket events after the cursor and inserts their jobs and the new cursor in one transaction, so
an event is planned exactly once even across crashes; ``ON CONFLICT DO NOTHING`` on the key keeps a replanned event
from doubling a job. A job leaves ``pending`` only as ``sent`` (with its ``notification_sent`` ticket event in
the same transaction when it reached the customer) or ``failed`` after its last attempt — never deleted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .access import StoreAccess

if TYPE_CHECKING:
    from ..models import Ticket, TicketEvent

_LOGGER = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, channel TEXT NOT NULL, target TEXT NOT NULL,
    ticket_id INTEGER, event_id INTEGER, payload TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    next_at TEXT NOT NULL, last_error TEXT, created_at TEXT NOT NULL, sent_at TEXT);
CREATE INDEX IF NOT EXISTS outbox_jobs_due ON outbox_jobs(state, next_at);
CREATE TABLE IF NOT EXISTS outbox_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL REFERENCES outbox_jobs(id), ts TEXT NOT NULL,
    outcome TEXT NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS outbox_cursor (name TEXT PRIMARY KEY, event_id INTEGER NOT NULL);
INSERT OR IGNORE INTO outbox_cursor SELECT 'ticket_events', COALESCE(MAX(id), 0) FROM ticket_events;
"""
# A database that existed before the outbox starts planning at its newest event: no mail about old history.


class JobState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # every attempt used; kept for the delivery log


@dataclass(frozen=True)
class JobSpec:
    """A job to create: ``key`` is unique per event, channel, target and message."""

    key: str
    channel: str
    target: str
    payload: dict[str, Any]
    not_before: datetime | None = None  # e.g. a follow-up survey goes out on its date


@dataclass(frozen=True)
class Job:
    id: int
    key: str
    channel: str
    target: str
    ticket_id: int | None
    event_id: int | None
    payload: dict[str, Any]
    attempts: int


Planner = Callable[[StoreAccess, "Ticket", "TicketEvent"], list[JobSpec]]


def plan_new_events(store: StoreAccess, planner: Planner, now: datetime, batch: int = 200) -> int:
    """Plan the jobs of up to ``batch`` events after the cursor; returns how many events were planned."""
    with store._tx() as conn:
        after = conn.execute("SELECT event_id FROM outbox_cursor WHERE name = 'ticket_events'").fetchone()[0]
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id, ticket_id FROM ticket_events WHERE id > ? ORDER BY id LIMIT ?", (after, batch)
            )
        ]
        if not ids:
            return 0
        tickets: dict[int, Ticket] = {}
        for event_id in ids:
            ticket_id = conn.execute("SELECT ticket_id FROM ticket_events WHERE id = ?", (event_id,)).fetchone()[0]
            if ticket_id not in tickets:
                tickets[ticket_id] = store.get_ticket(ticket_id)  # type: ignore[assignment]
            ticket = tickets[ticket_id]
            event = next(e for e in ticket.events if e.id == event_id)
            try:
                specs = planner(
                    store, ticket.model_copy(update={"events": [e for e in ticket.events if e.id <= event_id]}), event
                )
            except Exception:
                _LOGGER.exception("no jobs could be planned for ticket event %s", event_id)
                continue
            for spec in specs:
                conn.execute(
                    "INSERT INTO outbox_jobs (key, channel, target, ticket_id, event_id, payload, state,"
                    " attempts, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (
                        spec.key,
                        spec.channel,
                        spec.target,
                        ticket_id,
                        event_id,
                        json.dumps(spec.payload),
                        (spec.not_before or now).isoformat(),
                        now.isoformat(),
                    ),
                )
        conn.execute("UPDATE outbox_cursor SET event_id = ? WHERE name = 'ticket_events'", (ids[-1],))
    return len(ids)


def pending_job_count(store: StoreAccess) -> int:
    """Jobs waiting to be sent or retried: the outbox's depth (a metric)."""
    return int(store._conn.execute("SELECT COUNT(*) FROM outbox_jobs WHERE state = 'pending'").fetchone()[0])


def due_jobs(store: StoreAccess, now: datetime, limit: int = 50) -> list[Job]:
    rows = store._conn.execute(
        "SELECT * FROM outbox_jobs WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?",
        (now.isoformat(), limit),
    ).fetchall()
    return [
        Job(
            r["id"],
            r["key"],
            r["channel"],
            r["target"],
            r["ticket_id"],
            r["event_id"],
            json.loads(r["payload"]),
            r["attempts"],
        )
        for r in rows
    ]


def job_sent(store: StoreAccess, job: Job, now: datetime, ticket_event: dict[str, Any] | None) -> None:
    """Mark the job sent; a message that reached the customer is recorded on its ticket in the same transaction."""
    with store._tx() as conn:
        conn.execute(
            "UPDATE outbox_jobs SET state = 'sent', attempts = attempts + 1, sent_at = ?, last_error = NULL"
            " WHERE id = ?",
            (now.isoformat(), job.id),
        )
        conn.execute(
            "INSERT INTO outbox_attempts (job_id, ts, outcome) VALUES (?, ?, 'sent')", (job.id, now.isoformat())
        )
        if ticket_event is not None and job.ticket_id is not None:
            store._event(conn, job.ticket_id, now, "outbox", "notification_sent", ticket_event)


def job_failed(
    store: StoreAccess, job: Job, now: datetime, error: str, retry_at: datetime | None, *, counted: bool = True
) -> None:
    """One failed attempt: retried at ``retry_at``, or failed for good without one. An uncounted one (nothing was
    sent: the destination asked us to wait) is logged as ``deferred`` and does not use up an attempt."""
    outcome = ("retry" if retry_at else "failed") if counted else "deferred"
    with store._tx() as conn:
        conn.execute(
            "UPDATE outbox_jobs SET state = ?, attempts = attempts + ?, last_error = ?, next_at = ? WHERE id = ?",
            ("pending" if retry_at else "failed", int(counted), error[:1000], (retry_at or now).isoformat(), job.id),
        )
        conn.execute(
            "INSERT INTO outbox_attempts (job_id, ts, outcome, detail) VALUES (?, ?, ?, ?)",
            (job.id, now.isoformat(), outcome, error[:1000]),
        )


def delivery_log(
    store: StoreAccess, *, ticket_id: int | None = None, state: JobState | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Jobs, newest first, with their attempts (what an admin reads to see what left, what failed and why);
    ``state=FAILED`` is the deliveries that gave up."""
    clauses, args = [], []
    for column, value in (("ticket_id", ticket_id), ("state", state)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    jobs = [
        dict(r)
        for r in store._conn.execute(
            f"SELECT id, key, channel, target, ticket_id, event_id, state, attempts, next_at, last_error, created_at, sent_at"
            f" FROM outbox_jobs {where} ORDER BY id DESC LIMIT ?",
            (*args, limit),
        )
    ]
    for job in jobs:
        job["attempt_log"] = [
            dict(r)
            for r in store._conn.execute(
                "SELECT ts, outcome, detail FROM outbox_attempts WHERE job_id = ? ORDER BY id", (job["id"],)
            )
        ]
    return jobs
