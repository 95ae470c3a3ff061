"""What the store's helper modules (contacts, outbox, search) use of ``SqliteStore``.

A protocol, because ``sqlite.py`` imports those modules (for their schemas): naming the class there would make
each pair a cycle. The members are private to the store package, which these modules belong to.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from ..models import Ticket


class StoreAccess(Protocol):
    _conn: sqlite3.Connection

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

    @staticmethod
    def _event(
        conn: sqlite3.Connection, ticket_id: int, now: datetime, actor: str, kind: str, data: dict[str, Any]
    ) -> int: ...

    def get_ticket(self, ticket_id: int) -> Ticket | None: ...
