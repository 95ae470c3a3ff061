"""Service-level clocks computed from a ticket's append-only event log.

``clocks(log, initial_priority, now, calendar)`` replays the log and answers, for every target the ticket has
had, when it was due, whether and when it was met, and its state. The rules (docs/support-process.md):

- Only customer-visible communication is a response (``events.is_customer_response``).
- Outcomes are frozen: a target met or breached stays so whatever happens later. A priority change re-plans,
  from the moment of the change, only the targets still open then; a resolved or closed ticket accrues no new
  breach (its open targets stop, neither met nor missed) until it is reopened.
- The update cadence is a chain of intervals: each customer update meets the running interval and starts the
  next; an interval nobody answered is breached at its deadline and the next one starts there.
- The 72-hour rule runs beside it, paused or not, in wall time.
- Each complaint has its own three clocks; each scheduled follow-up falls due on its date.

Nothing here writes: the SLA scanner records warnings and breaches when it detects them, never back-dated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.models import Priority

from ..models import TicketEvent
from .calendar import BusinessCalendar, Interval, add, elapsed
from .events import EventKind, is_customer_response
from .policy import (
    COMPLAINT_TARGETS,
    FINISHED_STATES,
    FOLLOW_UP_GRACE,
    PAUSE_STATES,
    POLICIES,
    SILENCE_LIMIT,
    WARN_FRACTION,
    ServiceLevels,
    Target,
)

AROUND_THE_CLOCK = BusinessCalendar(around_the_clock=True)
CADENCE_TARGETS = frozenset({"update", SILENCE_LIMIT.name})  # recurring: one clock per interval
K = EventKind


class ClockState(StrEnum):
    RUNNING = "running"
    WARNING = "warning"  # a quarter of the target's time left (a follow-up: its date has come)
    PAUSED = "paused"
    BREACHED = "breached"
    MET = "met"
    MET_LATE = "met_late"
    EARLY = "early"  # a follow-up recorded before its date
    STOPPED = "stopped"  # no longer required before it fell due (ticket resolved, complaint closed, priority)


@dataclass(frozen=True)
class Clock:
    target: str
    due: datetime
    met_at: datetime | None
    state: ClockState
    planned_at: datetime
    final: bool = False  # the outcome can no longer change
    ref: str | None = None  # which complaint (its event id) or follow-up (its index)
    not_before: datetime | None = None  # a follow-up's date (``due`` is when it becomes overdue)
    business: bool = False  # counted in business hours (P2/P3) rather than around the clock


def calendar_for(priority: Priority, business: BusinessCalendar, levels: ServiceLevels = POLICIES) -> BusinessCalendar:
    return AROUND_THE_CLOCK if levels[priority].around_the_clock else business


def pauses(log: Sequence[TicketEvent], now: datetime) -> list[Interval]:
    spans, since = [], None
    for event in log:
        if event.kind != K.TRANSITION:
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


def working_spans(log: Sequence[TicketEvent]) -> list[tuple[datetime, datetime | None]]:
    """When the ticket was not resolved or closed: from creation (or a reopening) to resolution (or open)."""
    spans: list[tuple[datetime, datetime | None]] = []
    since: datetime | None = log[0].ts
    for event in log:
        if event.kind != K.TRANSITION:
            continue
        finished = event.data.get("to") in FINISHED_STATES
        if finished and since is not None:
            spans.append((since, event.ts))
            since = None
        elif not finished and since is None:
            since = event.ts
    if since is not None:
        spans.append((since, None))
    return spans


def priority_segments(log: Sequence[TicketEvent], initial: Priority) -> list[tuple[datetime, Priority]]:
    """Each priority the ticket had, from the moment it took effect (creation, then every priority change)."""
    segments = [(log[0].ts, initial)]
    segments += [(e.ts, Priority(e.data["to"])) for e in log if e.kind == K.PRIORITY_CHANGED]
    return segments


def priority_at(segments: Sequence[tuple[datetime, Priority]], moment: datetime) -> Priority:
    return [priority for start, priority in segments if start <= moment][-1]


def current_state(log: Sequence[TicketEvent], at: datetime | None = None) -> str:
    state = "new"
    for event in log:
        if at is not None and event.ts > at:
            break
        if event.kind == K.TRANSITION:
            state = event.data["to"]
    return state


@dataclass(frozen=True)
class _Replay:
    """What every clock of one ticket needs, computed once per call."""

    log: Sequence[TicketEvent]
    now: datetime
    business: BusinessCalendar
    segments: list[tuple[datetime, Priority]]
    paused_spans: list[Interval]
    paused_now: bool
    working_spans: list[tuple[datetime, datetime | None]]
    levels: ServiceLevels

    def plan(
        self, target: Target, priority: Priority, since: datetime, settled: datetime | None = None
    ) -> tuple[datetime, BusinessCalendar]:
        """The deadline; once a target has settled (met, or no longer required), later pauses do not move it."""
        calendar = calendar_for(priority, self.business, self.levels)
        spans = (
            self.paused_spans
            if settled is None
            else [(a, min(b, settled)) for a, b in self.paused_spans if a < settled]
        )
        return add(calendar, since, target.duration(calendar), spans), calendar

    def live_state(self, due: datetime, length: timedelta, calendar: BusinessCalendar) -> ClockState:
        if self.now > due:
            return ClockState.BREACHED
        if self.paused_now:
            return ClockState.PAUSED
        left = elapsed(calendar, self.now, due, self.paused_spans)
        return ClockState.WARNING if left <= length * WARN_FRACTION else ClockState.RUNNING

    def first(self, predicate: Callable[[TicketEvent], bool]) -> datetime | None:
        return next((e.ts for e in self.log if predicate(e)), None)


def _one_time(replay: _Replay, name: str, met_at: datetime | None, finished_at: datetime | None) -> Clock | None:
    """A target met once (first response, root cause, workaround, fix), re-planned on priority changes while open."""
    if met_at is not None and finished_at is not None and met_at > finished_at:
        met_at = None  # met only after the ticket was resolved: it had stopped
    settles = met_at or finished_at
    plan: tuple[datetime, datetime, Target, BusinessCalendar] | None = None  # planned_at, due, target, calendar
    for start, priority in replay.segments:
        settled = plan is not None and ((met_at is not None and met_at <= start) or plan[1] < start)
        if settled or (finished_at is not None and finished_at < start):
            break
        target = getattr(replay.levels[priority], name)
        if target is None:
            plan = None  # not required at this priority (a breach before the change was frozen above)
            continue
        due, calendar = replay.plan(target, priority, start, settles)
        plan = (start, due, target, calendar)
    if plan is None:
        return None
    planned_at, due, target, calendar = plan
    business = not calendar.around_the_clock
    if met_at is not None:
        state = ClockState.MET if met_at <= due else ClockState.MET_LATE
        return Clock(name, due, met_at, state, planned_at, final=True, business=business)
    if finished_at is not None:
        state = ClockState.BREACHED if due < finished_at else ClockState.STOPPED
        return Clock(name, due, None, state, planned_at, final=True, business=business)
    length = target.duration(calendar)
    return Clock(name, due, None, replay.live_state(due, length, calendar), planned_at, business=business)


def _cadence(replay: _Replay, target_of: Callable[[Priority], Target], *, wall_time: bool) -> list[Clock]:
    """A chain of update intervals over each working span (see the module's docstring)."""
    name = target_of(Priority.P1).name
    answers = [e.ts for e in replay.log if is_customer_response(e)]
    changes = [start for start, _ in replay.segments[1:]]

    def plan(since: datetime, settled: datetime | None = None) -> tuple[datetime, timedelta, BusinessCalendar]:
        priority = priority_at(replay.segments, since)
        target = target_of(priority)
        if wall_time:
            return since + target.duration(AROUND_THE_CLOCK), target.duration(AROUND_THE_CLOCK), AROUND_THE_CLOCK
        due, calendar = replay.plan(target, priority, since, settled)
        return due, target.duration(calendar), calendar

    def settled(
        state: ClockState, since: datetime, anchor: datetime, at: datetime, met_at: datetime | None = None
    ) -> Clock:
        due, _, calendar = plan(since, at)
        return Clock(name, due, met_at, state, anchor, True, business=not calendar.around_the_clock)

    out: list[Clock] = []
    for start, end in replay.working_spans:
        stop = end if end is not None else replay.now
        anchor = since = start  # the interval's start; ``since``: where its current plan counts from
        due, length, calendar = plan(since)
        marks = sorted(
            [(t, True) for t in answers if start < t <= stop] + [(t, False) for t in changes if start < t <= stop]
        )
        for moment, answered in marks:
            while due < moment:
                out.append(
                    Clock(name, due, None, ClockState.BREACHED, anchor, True, business=not calendar.around_the_clock)
                )
                anchor = since = due
                due, length, calendar = plan(since)
            if answered:
                out.append(settled(ClockState.MET, since, anchor, moment, moment))
                anchor = moment
            since = moment  # the next interval, or the open one re-planned at the new priority
            due, length, calendar = plan(since)
        while due < stop:
            out.append(
                Clock(name, due, None, ClockState.BREACHED, anchor, True, business=not calendar.around_the_clock)
            )
            anchor = since = due
            due, length, calendar = plan(since)
        if end is not None:
            out.append(settled(ClockState.STOPPED, since, anchor, end))
        else:
            state = replay.live_state(due, length, calendar)
            if wall_time and state is ClockState.PAUSED:  # the 72-hour rule does not pause
                state = ClockState.WARNING if due - replay.now <= length * WARN_FRACTION else ClockState.RUNNING
            out.append(Clock(name, due, None, state, anchor, business=not calendar.around_the_clock))
    return out


def complaint_clocks(log: Sequence[TicketEvent], now: datetime) -> list[Clock]:
    """Every complaint's own acknowledge / plan / close clocks (around the clock, from the complaint)."""
    complaints = [e for e in log if e.kind == K.COMPLAINT]
    out: list[Clock] = []
    for complaint in complaints:
        reached: dict[str, datetime] = {}
        for e in log:
            if e.kind == K.COMPLAINT_MILESTONE and e.data.get("complaint_id", complaints[0].id) == complaint.id:
                if "complaint_close" in reached:
                    break  # a closed complaint's outcomes are final: nothing recorded after the close counts
                reached.setdefault(f"complaint_{e.data.get('name')}", e.ts)
        closed = reached.get("complaint_close")
        for target in COMPLAINT_TARGETS:
            length = target.duration(AROUND_THE_CLOCK)
            due, met_at = complaint.ts + length, reached.get(target.name)
            ref = str(complaint.id)
            if met_at is not None:
                state = ClockState.MET if met_at <= due else ClockState.MET_LATE
                out.append(Clock(target.name, due, met_at, state, complaint.ts, True, ref))
            elif closed is not None:
                state = ClockState.BREACHED if due < closed else ClockState.STOPPED
                out.append(Clock(target.name, due, None, state, complaint.ts, True, ref))
            else:
                state = (
                    ClockState.BREACHED
                    if now > due
                    else (ClockState.WARNING if due - now <= length * WARN_FRACTION else ClockState.RUNNING)
                )
                out.append(Clock(target.name, due, None, state, complaint.ts, False, ref))
    return out


def follow_up_rounds(log: Sequence[TicketEvent]) -> list[tuple[list[TicketEvent], list[TicketEvent], datetime | None]]:
    """Per resolution: its scheduled follow-ups, the follow-ups recorded for them, and when the round ended
    early (the ticket reopened, or was closed with follow-ups outstanding)."""
    rounds: list[tuple[list[TicketEvent], list[TicketEvent], datetime | None]] = []
    scheduled: list[TicketEvent] | None = None
    done: list[TicketEvent] = []
    for e in log:
        if e.kind == K.TRANSITION and e.data.get("to") == "resolved":
            if scheduled is not None:
                rounds.append((scheduled, done, e.ts))
            scheduled, done = [], []
        elif scheduled is None:
            continue
        elif e.kind == K.FOLLOW_UP_SCHEDULED:
            scheduled.append(e)
        elif e.kind == K.FOLLOW_UP and len(done) < len(scheduled):
            done.append(e)
        elif (e.kind == K.TRANSITION and e.data.get("to") not in FINISHED_STATES) or (
            e.kind == K.TRANSITION and e.data.get("to") == "closed" and len(done) < len(scheduled)
        ):
            rounds.append((scheduled, done, e.ts))
            scheduled, done = None, []
    if scheduled is not None:
        rounds.append((scheduled, done, None))
    return rounds


def follow_up_clocks(log: Sequence[TicketEvent], now: datetime) -> list[Clock]:
    out: list[Clock] = []
    for scheduled, done, ended in follow_up_rounds(log):
        for position, plan in enumerate(scheduled):
            date = datetime.fromisoformat(plan.data["due"])
            overdue = date + FOLLOW_UP_GRACE
            ref = str(plan.data.get("index", position + 1))
            if position < len(done):
                at = done[position].ts
                state = ClockState.EARLY if at < date else ClockState.MET if at <= overdue else ClockState.MET_LATE
                out.append(Clock("follow_up", overdue, at, state, plan.ts, True, ref, date))
            elif ended is not None:
                state = ClockState.BREACHED if overdue < ended else ClockState.STOPPED
                out.append(Clock("follow_up", overdue, None, state, plan.ts, True, ref, date))
            else:
                state = (
                    ClockState.BREACHED if now > overdue else ClockState.WARNING if now >= date else ClockState.RUNNING
                )
                out.append(Clock("follow_up", overdue, None, state, plan.ts, False, ref, date))
    return out


def next_follow_up(log: Sequence[TicketEvent]) -> tuple[str, datetime, bool] | None:
    """The follow-up a new record answers: (its index, its date, whether it is the round's last), or None."""
    rounds = follow_up_rounds(log)
    if not rounds or rounds[-1][2] is not None:
        return None
    scheduled, done, _ = rounds[-1]
    if len(done) >= len(scheduled):
        return None
    plan = scheduled[len(done)]
    return (
        str(plan.data.get("index", len(done) + 1)),
        datetime.fromisoformat(plan.data["due"]),
        len(done) + 1 == len(scheduled),
    )


def clocks(
    log: Sequence[TicketEvent],
    initial_priority: Priority,
    now: datetime,
    business: BusinessCalendar,
    levels: ServiceLevels = POLICIES,
) -> list[Clock]:
    """Every target's clock, open ones and settled ones, in a stable order, under ``levels`` (default: the
    seeds' table) and the ``business`` calendar."""
    state = current_state(log)
    replay = _Replay(
        log,
        now,
        business,
        priority_segments(log, initial_priority),
        pauses(log, now),
        state in PAUSE_STATES,
        working_spans(log),
        levels,
    )
    finished_at = next((e.ts for e in log if e.kind == K.TRANSITION and e.data.get("to") in FINISHED_STATES), None)
    resolved_at = replay.first(lambda e: e.kind == K.TRANSITION and e.data.get("to") == "resolved")
    met = {
        "first_response": replay.first(is_customer_response),
        "root_cause": replay.first(lambda e: e.kind == K.MILESTONE and e.data.get("name") == "root_cause_found"),
        "workaround": replay.first(lambda e: e.kind == K.MILESTONE and e.data.get("name") in ("workaround", "fixed")),
        "fix": resolved_at,
    }
    result = [
        clock for name, met_at in met.items() if (clock := _one_time(replay, name, met_at, finished_at)) is not None
    ]
    result += _cadence(replay, lambda priority: levels[priority].update_every, wall_time=False)
    result += _cadence(replay, lambda _priority: SILENCE_LIMIT, wall_time=True)
    result += complaint_clocks(log, now)
    result += follow_up_clocks(log, now)
    return result
