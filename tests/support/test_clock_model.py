"""The clock engine against a small reference model that counts countable minutes one by one.

The engine plans deadlines with interval arithmetic (``calendar.add``); the model below walks the timeline a
minute at a time — is the support desk open (Berlin, 09:00–18:00 Mon–Fri, a holiday), is the ticket paused —
and applies the rules of docs/support-process.md as literally as it can. Every generated log puts events on
whole minutes, so the two must agree exactly. A second property checks that outcomes are frozen: whatever
was met or missed at some moment stays so after any later events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.models import TicketEvent
from collector.support.calendar import BusinessCalendar
from collector.support.clocks import Clock, ClockState, clocks
from shared.models import Priority

BERLIN = ZoneInfo("Europe/Berlin")
HOLIDAY = date(2026, 12, 24)
CALENDAR = BusinessCalendar("Europe/Berlin", holidays=frozenset({HOLIDAY}))
ORIGIN = datetime(2026, 12, 21, 7, 0, tzinfo=UTC)  # Monday 08:00 Berlin; Thursday is a holiday
MINUTE = timedelta(minutes=1)
# minutes of countable time per target: P1 around the clock, P2/P3 in business minutes (a business day = 540)
FIRST_RESPONSE = {Priority.P1: 30, Priority.P2: 120, Priority.P3: 240}
ROOT_CAUSE = {Priority.P1: 240, Priority.P2: 540, Priority.P3: None}
UPDATE = {Priority.P1: 60, Priority.P2: 240, Priority.P3: 540}
SILENCE = 72 * 60
RESPONSES = {"public_reply", "update", "notification_sent"}

ACTIONS = [
    "public_reply",
    "update",
    "internal_note",
    "note",
    "pause",
    "resume",
    "resolve",
    "reopen",
    "P1",
    "P2",
    "P3",
    "root_cause",
    "diagnose",
    "complaint",
    "complaint_ack",
    "complaint_close",
    "follow_up",
]
FOLLOW_UP_DAYS = {Priority.P1: (1, 3, 7), Priority.P2: (3,), Priority.P3: (7,)}


@cache
def desk_open(moment: datetime) -> bool:
    local = moment.astimezone(BERLIN)
    return local.weekday() < 5 and local.date() != HOLIDAY and 9 <= local.hour < 18


def event(ts: datetime, kind: str, **data: object) -> TicketEvent:
    return TicketEvent(id=0, ticket_id=1, ts=ts, actor="t", kind=kind, data=data)


@st.composite
def ticket_logs(draw: st.DrawFn) -> tuple[list[TicketEvent], Priority, datetime]:
    initial = draw(st.sampled_from(list(Priority)))
    t = ORIGIN + MINUTE * draw(st.integers(0, 3 * 1440))
    log = [event(t, "created")]
    state, priority = "new", initial
    for gap, action in draw(st.lists(st.tuples(st.integers(0, 600), st.sampled_from(ACTIONS)), max_size=14)):
        t += MINUTE * gap
        finished, paused = state in ("resolved", "closed"), state.startswith("waiting")
        if action in ("public_reply", "update", "internal_note", "note"):
            log.append(event(t, action, text="x"))
        elif action == "pause" and not finished and not paused:
            log.append(event(t, "transition", to="waiting_customer"))
            state = "waiting_customer"
        elif action in ("resume", "diagnose") and not finished and state != "diagnosing":
            log.append(event(t, "transition", to="diagnosing"))
            state = "diagnosing"
        elif action == "resolve" and not finished:
            log.append(event(t, "transition", to="resolved"))
            log += [
                event(t, "follow_up_scheduled", index=i, due=(t + timedelta(days=d)).isoformat())
                for i, d in enumerate(FOLLOW_UP_DAYS[priority], start=1)
            ]
            state = "resolved"
        elif action == "follow_up" and finished:
            log.append(event(t, "follow_up", satisfaction=4))
        elif action == "complaint":
            log.append(event(t, "complaint", text="x").model_copy(update={"id": len(log)}))
        elif action in ("complaint_ack", "complaint_close"):
            log.append(event(t, "complaint_milestone", name=action.removeprefix("complaint_")))
        elif action == "reopen" and finished:
            log.append(event(t, "transition", to="diagnosing", reopened=True))
            state = "diagnosing"
        elif action in ("P1", "P2", "P3") and Priority(action) is not priority:
            log.append(event(t, "priority_changed", to=action))
            priority = Priority(action)
        elif action == "root_cause":
            log.append(event(t, "milestone", name="root_cause_found"))
    return log, initial, t + MINUTE * draw(st.integers(0, 2000))


class Timeline:
    """The log as the model reads it: what holds at each whole minute."""

    def __init__(self, log: list[TicketEvent], initial: Priority, now: datetime) -> None:
        self.log, self.now, self.created = log, now, log[0].ts
        self.changes = [(e.ts, Priority(e.data["to"])) for e in log if e.kind == "priority_changed"]
        self.initial = initial
        self.responses = [e.ts for e in log if e.kind in RESPONSES]
        self.transitions = [(e.ts, e.data["to"]) for e in log if e.kind == "transition"]

    def priority(self, moment: datetime) -> Priority:
        return ([self.initial] + [p for ts, p in self.changes if ts <= moment])[-1]

    def state(self, moment: datetime) -> str:
        return ([("", "new")] + [(ts, to) for ts, to in self.transitions if ts <= moment])[-1][1]

    def paused(self, minute: datetime, until: datetime | None = None) -> bool:
        """Paused at that minute; pauses after ``until`` (when a target settled) no longer move its deadline."""
        return minute < min(self.now, until or self.now) and self.state(minute).startswith("waiting")

    def paused_now(self) -> bool:
        return self.state(self.now).startswith("waiting")

    def countable(self, minute: datetime, priority: Priority, until: datetime | None = None) -> bool:
        return not self.paused(minute, until) and (priority is Priority.P1 or desk_open(minute))

    def finished_at(self) -> datetime | None:
        return next((ts for ts, to in self.transitions if to in ("resolved", "closed")), None)


def model_one_time(
    tl: Timeline, lengths: Mapping[Priority, int | None], met_at: datetime | None
) -> tuple[str, datetime] | None:
    finished = tl.finished_at()
    if met_at is not None and finished is not None and met_at > finished:
        met_at = None
    settles = met_at or finished
    change_times = {ts: p for ts, p in tl.changes}
    length, priority, used, due, frozen = lengths[tl.initial], tl.initial, 0, None, False
    t = tl.created
    while due is None or (not frozen and t <= tl.now):
        if t in change_times and not frozen:
            planned = length is not None
            settled = (planned and ((met_at is not None and met_at <= t) or (due is not None and due < t))) or (
                finished is not None and finished < t
            )
            if settled:
                frozen = True
            else:
                priority, used, due = change_times[t], 0, None
                length = lengths[priority]
        if length is None:
            if frozen or t > tl.now:
                return None
            t += MINUTE
            continue
        if due is None and tl.countable(t, priority, settles):
            used += 1
            if used == length:
                due = t + MINUTE
        t += MINUTE
        if t > tl.created + timedelta(days=40):
            raise AssertionError("model ran away")
    if length is None:
        return None
    assert due is not None
    if met_at is not None:
        return ("met" if met_at <= due else "met_late"), due
    if finished is not None:
        return ("breached" if due < finished else "stopped"), due
    if tl.now > due:
        return "breached", due
    return ("paused" if tl.paused_now() else "live"), due


def working_spans(tl: Timeline) -> list[tuple[datetime, datetime | None]]:
    spans: list[tuple[datetime, datetime]] = []
    since: datetime | None = tl.created
    for ts, to in tl.transitions:
        if to in ("resolved", "follow_up", "closed") and since is not None:
            spans.append((since, ts))
            since = None
        elif to not in ("resolved", "follow_up", "closed") and since is None:
            since = ts
    return spans + ([(since, None)] if since is not None else [])


def model_cadence(tl: Timeline, length_of, wall_time: bool) -> list[tuple[str, datetime]]:  # type: ignore[no-untyped-def]
    """Each update interval as (outcome, deadline), walking minute by minute."""
    out = []
    for start, end in working_spans(tl):
        stop = end if end is not None else tl.now
        prio = tl.priority(start)  # the open interval's priority: set whenever an interval is (re)planned
        used, due, length, t = 0, None, length_of(prio), start
        while True:
            if start < t <= stop and t in {ts for ts, _ in tl.changes}:
                prio = tl.priority(t)
                used, due, length = 0, None, length_of(prio)
            for _ in range(tl.responses.count(t) if start < t <= stop else 0):
                out.append(("met", due if due is not None else _finish(tl, t, used, length, wall_time, prio)))
                prio = tl.priority(t)
                used, due, length = 0, None, length_of(prio)
            if due is not None and due == t and t < stop:
                out.append(("breached", due))
                prio = tl.priority(t)
                used, due, length = 0, None, length_of(prio)
            if t >= stop and due is not None:
                break
            if due is None and (wall_time or tl.countable(t, prio, until=stop if end is not None else None)):
                used += 1
                if used == length:
                    due = t + MINUTE
            t += MINUTE
        out.append(("stopped" if end is not None else "paused" if tl.paused_now() and not wall_time else "live", due))
    return out


def _finish(tl: Timeline, t: datetime, used: int, length: int, wall_time: bool, priority: Priority) -> datetime:
    """The deadline of an interval settled before it ran out: keep counting from ``t`` at its priority."""
    t0 = t
    while True:
        if wall_time or tl.countable(t, priority, until=t0):
            used += 1
            if used == length:
                return t + MINUTE
        t += MINUTE


def _engine(log: list[TicketEvent], initial: Priority, now: datetime) -> list[Clock]:
    return clocks(log, initial, now, CALENDAR)


def _summary(clock: Clock) -> tuple[str, datetime]:
    live = clock.state in (ClockState.RUNNING, ClockState.WARNING)
    return ("live" if live else clock.state.value), clock.due


@settings(max_examples=100, deadline=None)
@given(ticket_logs())
def test_the_engine_agrees_with_the_minute_model(case: tuple[list[TicketEvent], Priority, datetime]) -> None:
    log, initial, now = case
    tl = Timeline(log, initial, now)
    engine = _engine(log, initial, now)
    by_target = {c.target: c for c in engine if c.target in ("first_response", "root_cause")}
    first_response = next((ts for ts in tl.responses), None)
    assert _summary(by_target["first_response"]) == model_one_time(tl, FIRST_RESPONSE, first_response)
    root_found = next((e.ts for e in log if e.kind == "milestone"), None)
    expected_root = model_one_time(tl, ROOT_CAUSE, root_found)
    assert (_summary(by_target["root_cause"]) if "root_cause" in by_target else None) == expected_root
    cadence = [_summary(c) for c in engine if c.target == "update"]
    assert cadence == model_cadence(tl, lambda p: UPDATE[p], wall_time=False)
    silence = [_summary(c) for c in engine if c.target == "update_72h"]
    assert silence == model_cadence(tl, lambda _p: SILENCE, wall_time=True)


@settings(max_examples=100, deadline=None)
@given(ticket_logs(), st.data())
def test_outcomes_are_frozen(case: tuple[list[TicketEvent], Priority, datetime], data: st.DataObject) -> None:
    log, initial, now = case
    cut = data.draw(st.integers(1, len(log)))
    then = log[cut - 1].ts
    later = _engine(log, initial, now)
    for before in _engine(log[:cut], initial, then):
        if before.state in (ClockState.MET, ClockState.MET_LATE, ClockState.EARLY) or (
            before.final and before.state is ClockState.BREACHED
        ):
            assert before in later  # the very same outcome, deadline and moment
        elif before.state is ClockState.BREACHED:  # missed and still open: it can only be met late
            assert any(
                c.target == before.target
                and c.ref == before.ref
                and c.due == before.due
                and c.state in (ClockState.BREACHED, ClockState.MET_LATE)
                for c in later
            )
