"""Which ticket a bundle belongs to: pure decisions over plain data.

A bundle is a candidate for an open ticket of its household when its capture window overlaps the time the
fault was reported to happen (``occurred_from``…``occurred_to``, widened by a slack, because people remember
times roughly); a ticket without a stated time is a candidate for bundles from ``lookback`` before it was
opened onwards. Candidates are ranked by fit, strongest first:

1. time: the window covers the stated time itself > only within the slack > the ticket states no time;
2. device: the device the bundle's fault names matches the ticket's device > no match;
3. fault type: the bundle's diagnosis gives the ticket's classified fault type > unknown > another type;

and only then recency (the newer ticket). A bundle no ticket fits waits unattached and is offered on its
household's tickets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from shared.models import CaptureWindow, RootCause

from .support.lifecycle import FAULT_TYPE_OF


@dataclass(frozen=True)
class TicketSpan:
    ticket_id: int
    created_at: datetime
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    device: str | None = None
    fault_type: str | None = None  # the ticket's latest classification, if any


class TimeFit(IntEnum):
    UNSTATED = 0  # the ticket states no time: any bundle since ``lookback`` before it was opened
    NEAR = 1  # within the slack around the stated time
    COVERS = 2  # the window overlaps the stated time itself


class Match(IntEnum):
    OTHER = -1
    UNKNOWN = 0
    SAME = 1


@dataclass(frozen=True, order=True)
class Fit:
    time: TimeFit
    device: Match
    fault_type: Match

    def describe(self) -> str:
        return f"time {self.time.name.lower()}, device {self.device.name.lower()}, fault type {self.fault_type.name.lower()}"


def _tokens(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def bundle_device(signature: str | None) -> str | None:
    """The device a fault signature names (``device_offline:<device id>``), if any."""
    if not signature or ":" not in signature:
        return None
    return signature.split(":", 1)[1] or None


def bundle_fault_type(signature: str | None) -> str | None:
    try:
        return FAULT_TYPE_OF.get(RootCause((signature or "").split(":")[0]))
    except ValueError:
        return None


def _time_fit(window: CaptureWindow, span: TicketSpan, slack: timedelta, lookback: timedelta) -> TimeFit | None:
    if span.occurred_from is None and span.occurred_to is None:
        return TimeFit.UNSTATED if window.end >= span.created_at - lookback else None
    start = span.occurred_from or span.occurred_to
    end = span.occurred_to or span.occurred_from
    assert start is not None and end is not None
    if window.start <= end and window.end >= start:
        return TimeFit.COVERS
    return TimeFit.NEAR if window.start <= end + slack and window.end >= start - slack else None


def fit(
    window: CaptureWindow, signature: str | None, span: TicketSpan, *, slack: timedelta, lookback: timedelta
) -> Fit | None:
    """How well a bundle fits a ticket, or None if its time does not fit at all."""
    time_fit = _time_fit(window, span, slack, lookback)
    if time_fit is None:
        return None
    device, wanted = bundle_device(signature), _tokens(span.device or "")
    # The ticket's device is the customer's words and the bundle's a device id: a match is evidence, a
    # mismatch is not (it stays unknown rather than counting against the ticket).
    ours = _tokens(device or "")
    device_match = Match.SAME if ours and wanted and (ours in wanted or wanted in ours) else Match.UNKNOWN
    kind = bundle_fault_type(signature)
    type_match = (
        Match.UNKNOWN
        if kind is None or span.fault_type is None
        else (Match.SAME if kind == span.fault_type else Match.OTHER)
    )
    return Fit(time_fit, device_match, type_match)


def fits(window: CaptureWindow, span: TicketSpan, *, slack: timedelta, lookback: timedelta) -> bool:
    return _time_fit(window, span, slack, lookback) is not None


def rank(
    window: CaptureWindow,
    signature: str | None,
    open_tickets: Iterable[TicketSpan],
    *,
    slack: timedelta,
    lookback: timedelta,
) -> list[tuple[Fit, TicketSpan]]:
    """The candidate tickets, best fit first; recency only breaks ties."""
    scored = [
        (score, span)
        for span in open_tickets
        if (score := fit(window, signature, span, slack=slack, lookback=lookback)) is not None
    ]
    return sorted(scored, key=lambda pair: (pair[0], pair[1].created_at, pair[1].ticket_id), reverse=True)


def best_fit(
    window: CaptureWindow,
    open_tickets: Iterable[TicketSpan],
    *,
    slack: timedelta,
    lookback: timedelta,
    signature: str | None = None,
) -> tuple[int, Fit] | None:
    """The best-fitting open ticket and how it fits, or None (the bundle waits unattached)."""
    ranked = rank(window, signature, open_tickets, slack=slack, lookback=lookback)
    return (ranked[0][1].ticket_id, ranked[0][0]) if ranked else None


def choose_ticket(
    window: CaptureWindow,
    open_tickets: Iterable[TicketSpan],
    *,
    slack: timedelta,
    lookback: timedelta,
    signature: str | None = None,
) -> int | None:
    chosen = best_fit(window, open_tickets, slack=slack, lookback=lookback, signature=signature)
    return None if chosen is None else chosen[0]
