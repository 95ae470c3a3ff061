"""Service-level clocks computed from a ticket's append-only event log.

``clocks(log, now, calendar)`` answers, for every target of the ticket's current priority, when it is due,
whether and when it was met, and whether it is running, in warning, breached or paused. Pauses (waiting for
the customer or for parts) shift deadlines; a priority change re-plans the targets not yet met from the
moment of the change. Nothing here writes: the SLA scanner records warnings and breaches when it detects
them, at that time — never back-dated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.models import Priority

from ..models import TicketEvent
from .calendar import BusinessCalendar, Interval, add
from .policy import COMPLAINT_TARGETS, PAUSE_STATES, POLICIES, WARN_FRACTION, Target

AROUND_THE_CLOCK = BusinessCalendar(around_the_clock=True)
STAFF_ROLES = frozenset({"engineer", "admin", "partner"})


@dataclass(frozen=True)
class Clock:
    target: str
    due: datetime
    met_at: datetime | None
    state: str  # met, met_late, running, warning, breached, paused

    @property
    def open(self) -> bool:
        return self.met_at is None


def _is_response(event: TicketEvent) -> bool:
    if event.kind in ("update", "transition", "milestone"):
        return True
    return event.kind == "note" and event.data.get("role") in STAFF_ROLES


def pauses(log: Sequence[TicketEvent], now: datetime) -> list[Interval]:
    spans, since = [], None
    for event in log:
        if event.kind != "transition":
            continue
        to = event.data.get("to")
        if to in PAUSE_STATES and since is None:
            since = event.ts
        elif to not in PAUSE_STATES and since is not None:
            spans.append((since, event.ts))
            since = None
    if since is not None:
        spans.append((since, now))
    return spans


def priority_plan(log: Sequence[TicketEvent], initial: Priority) -> tuple[Priority, datetime]:
    """The current priority and the moment its plan started (creation or the last priority change)."""
    priority, start = initial, log[0].ts
    for event in log:
        if event.kind == "priority_changed":
            priority, start = Priority(event.data["to"]), event.ts
    return priority, start


def current_state(log: Sequence[TicketEvent]) -> str:
    state = "new"
    for event in log:
        if event.kind == "transition":
            state = event.data["to"]
    return state


def _status(due: datetime, met_at: datetime | None, now: datetime, target_length: timedelta, paused: bool) -> str:
    if met_at is not None:
        return "met" if met_at <= due else "met_late"
    if now > due:
        return "breached"
    if paused:
        return "paused"
    return "warning" if due - now <= target_length * WARN_FRACTION else "running"


def clocks(log: Sequence[TicketEvent], initial_priority: Priority, now: datetime, business: BusinessCalendar) -> list[Clock]:
    priority, start = priority_plan(log, initial_priority)
    policy = POLICIES[priority]
    calendar = AROUND_THE_CLOCK if policy.around_the_clock else business
    paused_spans = pauses(log, now)
    state = current_state(log)
    paused = state in PAUSE_STATES
    finished = state in ("resolved", "follow_up", "closed")

    def first(predicate, after: datetime) -> datetime | None:  # type: ignore[no-untyped-def]
        return next((e.ts for e in log if e.ts >= after and predicate(e)), None)

    def clock(target: Target, met_at: datetime | None, since: datetime = start) -> Clock:
        length = target.duration(calendar)
        due = add(calendar, since, length, paused_spans)
        return Clock(target.name, due, met_at, _status(due, met_at, now, length, paused))

    result = [clock(policy.first_response, first(_is_response, log[0].ts))]
    for target, met in ((policy.root_cause, first(lambda e: e.kind == "milestone" and e.data.get("name") == "root_cause_found", log[0].ts)),
                        (policy.workaround, first(lambda e: e.kind == "milestone" and e.data.get("name") in ("workaround", "fixed"), log[0].ts)),
                        (policy.fix, first(lambda e: e.kind == "transition" and e.data.get("to") == "resolved", log[0].ts))):
        if target is not None:
            result.append(clock(target, met))
    if not finished:
        updates = [e.ts for e in log if _is_response(e)]
        last = updates[-1] if updates else log[0].ts
        result.append(clock(policy.update_every, None, last))
    result += complaint_clocks(log, now)
    return result


def complaint_clocks(log: Sequence[TicketEvent], now: datetime) -> list[Clock]:
    complaint = next((e for e in log if e.kind == "complaint"), None)
    if complaint is None:
        return []
    met = {f"complaint_{e.data.get('name')}": e.ts for e in log if e.kind == "complaint_milestone"}
    out = []
    for target in COMPLAINT_TARGETS:
        length = target.duration(AROUND_THE_CLOCK)
        due, met_at = complaint.ts + length, met.get(target.name)
        out.append(Clock(target.name, due, met_at, _status(due, met_at, now, length, False)))
    return out


def update_cadence(log: Sequence[TicketEvent], initial_priority: Priority, business: BusinessCalendar) -> tuple[int, int]:
    """(progress updates on time, updates due) over the ticket's life: for the monthly on-time rate."""
    priority, _ = priority_plan(log, initial_priority)
    policy = POLICIES[priority]
    calendar = AROUND_THE_CLOCK if policy.around_the_clock else business
    first_response = next((e.ts for e in log if _is_response(e)), None)
    end = next((e.ts for e in log if e.kind == "transition" and e.data.get("to") == "resolved"), None)
    if first_response is None or end is None:
        return 0, 0
    notices = [e.ts for e in log if e.kind == "update" and first_response < e.ts < end]
    on_time = due = 0
    previous = first_response
    for moment in [*notices, end]:
        due += 1
        if moment <= add(calendar, previous, policy.update_every.duration(calendar), pauses(log, end)):
            on_time += 1
        previous = moment
    return on_time, due
