"""Which ticket a bundle belongs to: pure decisions over plain data.

A bundle fits a ticket of its household when its capture window overlaps the time the fault was reported
to happen (``occurred_from``…``occurred_to``, widened by a slack, because people remember times roughly).
A ticket without a stated time takes any bundle from ``lookback`` before it was opened onwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.models import CaptureWindow


@dataclass(frozen=True)
class TicketSpan:
    ticket_id: int
    created_at: datetime
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


def fits(window: CaptureWindow, span: TicketSpan, *, slack: timedelta, lookback: timedelta) -> bool:
    if span.occurred_from is None and span.occurred_to is None:
        return window.end >= span.created_at - lookback
    start = span.occurred_from or span.occurred_to
    end = span.occurred_to or span.occurred_from
    assert start is not None and end is not None
    return window.start <= end + slack and window.end >= start - slack


def choose_ticket(window: CaptureWindow, open_tickets: Iterable[TicketSpan], *,
                  slack: timedelta, lookback: timedelta) -> int | None:
    """The newest open ticket the window fits, or None (the bundle waits unattached)."""
    fitting = [span for span in open_tickets if fits(window, span, slack=slack, lookback=lookback)]
    if not fitting:
        return None
    return max(fitting, key=lambda span: (span.created_at, span.ticket_id)).ticket_id
