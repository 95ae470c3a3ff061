"""SLA arithmetic with an injectable clock: business hours, holidays, pauses, priority changes, follow-ups."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from collector.models import TicketEvent
from collector.support.calendar import BusinessCalendar, add, elapsed
from collector.support.clocks import clocks
from collector.support.lifecycle import FAULT_TYPE_OF, FAULT_TYPES, follow_up_dates
from shared.models import Priority, RootCause

# Friday 2026-11-20 16:00 UTC; the calendar is Europe/Berlin (UTC+1 in November), 09:00-18:00 Mon-Fri.
FRIDAY_4PM = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
BERLIN = BusinessCalendar("Europe/Berlin", holidays=frozenset({date(2026, 11, 23)}))  # Monday is a holiday


def event(ts: datetime, kind: str, **data: object) -> TicketEvent:
    return TicketEvent(id=0, ticket_id=1, ts=ts, actor="eve", kind=kind, data=data)


def by_target(log: list[TicketEvent], priority: Priority, now: datetime) -> dict[str, object]:
    return {c.target: c for c in clocks(log, priority, now, BERLIN)}


def test_business_time_skips_nights_weekends_and_holidays() -> None:
    # 17:00 Berlin on Friday: one business hour left that day, Monday is a holiday → Tuesday 10:00 Berlin.
    assert add(BERLIN, FRIDAY_4PM, timedelta(hours=2)) == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert elapsed(BERLIN, FRIDAY_4PM, datetime(2026, 11, 24, 9, 0, tzinfo=UTC)) == timedelta(hours=2)
    around = BusinessCalendar(around_the_clock=True)
    assert add(around, FRIDAY_4PM, timedelta(hours=2)) == FRIDAY_4PM + timedelta(hours=2)


def test_p2_clocks_run_in_business_hours_and_p1_around_the_clock() -> None:
    log = [event(FRIDAY_4PM, "created")]
    p2 = by_target(log, Priority.P2, FRIDAY_4PM + timedelta(minutes=1))
    assert p2["first_response"].due == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    # 3 business days = 27 h: 1 h on Friday, Tuesday, Wednesday, 8 h on Thursday → 17:00 Berlin.
    assert p2["fix"].due == datetime(2026, 11, 26, 16, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    p1 = by_target(log, Priority.P1, FRIDAY_4PM + timedelta(minutes=1))
    assert p1["first_response"].due == FRIDAY_4PM + timedelta(minutes=30)  # type: ignore[attr-defined]
    assert p1["workaround"].due == FRIDAY_4PM + timedelta(hours=8)  # type: ignore[attr-defined]


def test_states_warning_breach_met_and_late() -> None:
    log = [event(FRIDAY_4PM, "created")]
    assert by_target(log, Priority.P1, FRIDAY_4PM + timedelta(minutes=10))["first_response"].state == "running"  # type: ignore[attr-defined]
    assert by_target(log, Priority.P1, FRIDAY_4PM + timedelta(minutes=25))["first_response"].state == "warning"  # type: ignore[attr-defined]
    assert by_target(log, Priority.P1, FRIDAY_4PM + timedelta(minutes=31))["first_response"].state == "breached"  # type: ignore[attr-defined]
    answered = [*log, event(FRIDAY_4PM + timedelta(minutes=20), "update", text="on it")]
    assert by_target(answered, Priority.P1, FRIDAY_4PM + timedelta(hours=2))["first_response"].state == "met"  # type: ignore[attr-defined]
    late = [*log, event(FRIDAY_4PM + timedelta(minutes=45), "public_reply", role="engineer")]
    assert by_target(late, Priority.P1, FRIDAY_4PM + timedelta(hours=2))["first_response"].state == "met_late"  # type: ignore[attr-defined]
    customer_note = [*log, event(FRIDAY_4PM + timedelta(minutes=5), "note", role="customer")]
    assert by_target(customer_note, Priority.P1, FRIDAY_4PM + timedelta(minutes=10))["first_response"].met_at is None  # type: ignore[attr-defined]


def test_waiting_for_the_customer_pauses_and_shifts_deadlines() -> None:
    start = FRIDAY_4PM
    log = [
        event(start, "created"),
        event(start + timedelta(minutes=10), "update", text="hi"),
        event(start + timedelta(hours=1), "transition", **{"from": "diagnosing", "to": "waiting_customer"}),
        event(start + timedelta(hours=4), "transition", **{"from": "waiting_customer", "to": "diagnosing"}),
    ]
    clocks_now = by_target(log, Priority.P1, start + timedelta(hours=5))
    assert clocks_now["root_cause"].due == start + timedelta(hours=7)  # type: ignore[attr-defined]  # 4 h + 3 h paused
    paused = by_target(log[:3], Priority.P1, start + timedelta(hours=2))
    assert paused["root_cause"].state == "paused"  # type: ignore[attr-defined]


def test_a_priority_change_replans_from_the_change() -> None:
    log = [
        event(FRIDAY_4PM, "created"),
        event(FRIDAY_4PM + timedelta(hours=1), "priority_changed", **{"from": "P3", "to": "P1"}),
    ]
    clocks_now = by_target(log, Priority.P3, FRIDAY_4PM + timedelta(hours=1, minutes=5))
    assert clocks_now["first_response"].due == FRIDAY_4PM + timedelta(hours=1, minutes=30)  # type: ignore[attr-defined]
    assert "workaround" in clocks_now  # P1 targets now apply


def test_update_cadence_and_follow_ups() -> None:
    start = FRIDAY_4PM
    log = [
        event(start, "created"),
        event(start + timedelta(minutes=20), "update", text="a"),
        event(start + timedelta(minutes=70), "update", text="b"),
        event(start + timedelta(minutes=190), "update", text="c"),  # 2 h after the last: late for P1 (every 1 h)
        event(start + timedelta(minutes=200), "transition", **{"from": "diagnosing", "to": "resolved"}),
    ]
    cadence = [c.state for c in clocks(log, Priority.P1, start + timedelta(hours=5), BERLIN) if c.target == "update"]
    # met at 20 min and 70 min, missed at 130 min, met by the late one at 190, stopped by the resolution
    assert cadence == ["met", "met", "breached", "met", "stopped"]
    resolved = start + timedelta(hours=4)
    assert follow_up_dates(Priority.P1, resolved) == [resolved + timedelta(days=d) for d in (1, 3, 7)]
    assert follow_up_dates(Priority.P2, resolved) == [resolved + timedelta(days=3)]
    assert follow_up_dates(Priority.P3, resolved) == [resolved + timedelta(days=7)]


def test_complaint_clocks() -> None:
    log = [
        event(FRIDAY_4PM, "created"),
        event(FRIDAY_4PM + timedelta(hours=1), "complaint", text="nobody called"),
        event(FRIDAY_4PM + timedelta(hours=2), "complaint_milestone", name="ack"),
    ]
    complaint = by_target(log, Priority.P2, FRIDAY_4PM + timedelta(hours=30))
    assert complaint["complaint_ack"].state == "met"  # type: ignore[attr-defined]
    assert complaint["complaint_plan"].state == "breached"  # type: ignore[attr-defined]
    assert complaint["complaint_close"].state == "running"  # type: ignore[attr-defined]


def test_every_root_cause_pre_fills_a_fault_type() -> None:
    assert set(FAULT_TYPE_OF) == set(RootCause) - {RootCause.HEALTHY}
    assert set(FAULT_TYPE_OF.values()) <= FAULT_TYPES
