"""Helpdesk connectors' tables: which helpdesk ticket a homediag ticket is linked to, and the key that signs
download links to bundles too large to attach.

Portable SQL (SQLite and PostgreSQL): plain types, ``ON CONFLICT DO NOTHING``, no AUTOINCREMENT. A link is made
once per helpdesk and homediag ticket and never changes: a helpdesk ticket is linked to one homediag ticket, and
the outbox's idempotency keys name the homediag ticket, so a link that moved would send evidence twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ..models import OPEN_STATES, Ticket, TicketIntake
from .access import StoreAccess

SCHEMA = """
CREATE TABLE IF NOT EXISTS helpdesk_links (
    helpdesk TEXT NOT NULL, ticket_id BIGINT NOT NULL REFERENCES tickets(id), remote_id TEXT NOT NULL,
    origin TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (helpdesk, ticket_id), UNIQUE (helpdesk, remote_id));
CREATE TABLE IF NOT EXISTS connector_keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

HELPDESK_LINKED = "helpdesk_linked"  # the ticket event a new link writes (staff only: not in CUSTOMER_KINDS)


class LinkOrigin(StrEnum):
    HOMEDIAG = "homediag"  # we opened the helpdesk ticket
    HELPDESK = "helpdesk"  # it was opened in the helpdesk and announced to us


@dataclass(frozen=True)
class HelpdeskLink:
    helpdesk: str
    ticket_id: int
    remote_id: str
    origin: LinkOrigin
    created_at: datetime


def _link(row: Sequence[Any]) -> HelpdeskLink:
    helpdesk, ticket_id, remote_id, origin, created_at = row
    return HelpdeskLink(helpdesk, int(ticket_id), remote_id, LinkOrigin(origin), datetime.fromisoformat(created_at))


_COLUMNS = "helpdesk, ticket_id, remote_id, origin, created_at"


def link_of(store: StoreAccess, helpdesk: str, ticket_id: int) -> HelpdeskLink | None:
    row = store._conn.execute(
        f"SELECT {_COLUMNS} FROM helpdesk_links WHERE helpdesk = ? AND ticket_id = ?", (helpdesk, ticket_id)
    ).fetchone()
    return None if row is None else _link(row)


def links_of_ticket(store: StoreAccess, ticket_id: int) -> list[HelpdeskLink]:
    rows = store._conn.execute(
        f"SELECT {_COLUMNS} FROM helpdesk_links WHERE ticket_id = ? ORDER BY helpdesk", (ticket_id,)
    ).fetchall()
    return [_link(row) for row in rows]


def ticket_of_remote(store: StoreAccess, helpdesk: str, remote_id: str) -> int | None:
    row = store._conn.execute(
        "SELECT ticket_id FROM helpdesk_links WHERE helpdesk = ? AND remote_id = ?", (helpdesk, remote_id)
    ).fetchone()
    return None if row is None else int(row[0])


def record_link(
    store: StoreAccess, helpdesk: str, ticket_id: int, remote_id: str, origin: LinkOrigin, now: datetime
) -> HelpdeskLink:
    """Link the tickets (with a ``helpdesk_linked`` event on ours) unless a link exists; returns the link in force."""
    with store._tx() as conn:
        inserted = conn.execute(
            f"INSERT INTO helpdesk_links ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (helpdesk, ticket_id, remote_id, origin.value, now.isoformat()),
        ).rowcount
        if inserted:
            store._event(
                conn,
                ticket_id,
                now,
                f"helpdesk:{helpdesk}",
                HELPDESK_LINKED,
                {"helpdesk": helpdesk, "remote_id": remote_id, "origin": origin.value},
            )
    found = link_of(store, helpdesk, ticket_id)
    if found is None:  # the remote ticket is linked to another of our tickets already
        raise ValueError(f"{helpdesk} ticket {remote_id} is linked to another homediag ticket")
    return found


def link_remote_ticket(
    store: StoreAccess,
    helpdesk: str,
    remote_id: str,
    intake: TicketIntake,
    *,
    slack: timedelta,
    lookback: timedelta,
    now: datetime,
) -> tuple[Ticket, bool]:
    """A ticket opened in the helpdesk for a household: the homediag ticket it is linked to (the household's newest
    open ticket not yet linked to this helpdesk, else a new one that takes the household's fitting bundles) and
    whether it was opened now. Runs on the store's thread, so nothing else writes between the steps."""
    known = ticket_of_remote(store, helpdesk, remote_id)
    if known is not None:
        return store.get_ticket(known), False  # type: ignore[return-value]
    row = store._conn.execute(
        "SELECT id FROM tickets WHERE household = ? AND state IN ({}) AND id NOT IN"
        " (SELECT ticket_id FROM helpdesk_links WHERE helpdesk = ?) ORDER BY id DESC LIMIT 1".format(
            ", ".join("?" * len(OPEN_STATES))
        ),
        (intake.household, *sorted(state.value for state in OPEN_STATES), helpdesk),
    ).fetchone()
    created = row is None
    ticket_id = (
        store.create_ticket(intake, f"helpdesk:{helpdesk}", slack=slack, lookback=lookback, now=now).id
        if created
        else int(row[0])
    )
    record_link(store, helpdesk, ticket_id, remote_id, LinkOrigin.HELPDESK, now)
    return store.get_ticket(ticket_id), created  # type: ignore[return-value]


def download_key(store: StoreAccess) -> bytes:
    """The key download links are signed with: made once per database, so every replica checks the same links."""
    with store._tx() as conn:
        conn.execute(
            "INSERT INTO connector_keys (name, value) VALUES ('download_links', ?) ON CONFLICT DO NOTHING",
            (secrets.token_hex(32),),
        )
        value = conn.execute("SELECT value FROM connector_keys WHERE name = 'download_links'").fetchone()[0]
    return bytes.fromhex(value)
