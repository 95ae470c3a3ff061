"""What the store's helper modules (contacts, outbox, search, connectors, limits, staff) use of ``Store``.

A protocol, because the backends import those modules (for their schemas) and ``sql.py`` imports the backends:
naming the class there would make each pair a cycle. The members are private to the store package, which these
modules belong to.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..models import Ticket, TicketIntake
from .backends import Backend, Connection


class StoreAccess(Protocol):
    backend: Backend
    _conn: Connection

    def _tx(self) -> AbstractContextManager[Connection]: ...

    @staticmethod
    def _event(conn: Connection, ticket_id: int, now: datetime, actor: str, kind: str, data: dict[str, Any]) -> int: ...

    def get_ticket(self, ticket_id: int) -> Ticket | None: ...

    def create_ticket(
        self, intake: TicketIntake, actor: str, *, slack: timedelta, lookback: timedelta, now: datetime
    ) -> Ticket: ...
