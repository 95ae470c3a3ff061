"""Monthly figures per priority and fault type, from tickets and their event logs (pure).

Months are cut in the support organisation's time zone. Each figure says what it counts (``LABELS``):

- tickets opened in the month, and of them those resolved (and not reopened) at the month's end;
- on-time rates only over targets that fell due in the month: a target counts when it was met (at its
  meeting time) or missed (at its deadline); targets not yet due, and targets that stopped being required
  before they fell due (the ticket was resolved first), are not counted;
- satisfaction per follow-up response and per ticket (each ticket's responses averaged first);
- times to root cause and to fix in wall hours and in the SLA's own basis (business hours for P2/P3,
  around the clock for P1, pauses left out).

A ticket's figures go to the row of its priority and fault type at the month's end.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

from shared.models import Priority

from ..config import SupportConfig
from ..models import Ticket, TicketEvent
from .calendar import elapsed
from .clocks import (
    SILENCE_LIMIT,
    Clock,
    ClockState,
    calendar_for,
    current_state,
    pauses,
    priority_at,
    priority_segments,
)
from .events import EventKind
from .levels import TicketService, service_for, ticket_clocks
from .policy import FINISHED_STATES

TREND_MONTHS = 5  # months before the reported one in the trend
RESOLUTION_TARGETS = frozenset({"root_cause", "workaround", "fix"})
ON_TIME = frozenset({ClockState.MET, ClockState.EARLY})
LABELS = {
    "tickets_opened": "tickets opened in the month",
    "resolved_at_month_end": "of those, resolved (and not reopened) at the month's end",
    "resolution_rate_pct": "resolved_at_month_end / tickets_opened",
    "first_response_on_time_pct": "first responses (customer-visible) on time, over those that fell due in the month",
    "update_cadence_on_time_pct": "progress-update intervals answered on time, over those that fell due in the month",
    "resolution_targets_on_time_pct": "root cause, workaround and fix targets on time, over those that fell due",
    "silence_72h_breaches": "times a customer waited more than 72 hours without an update",
    "csat_average_per_response": "mean satisfaction (1-5) over the follow-up responses recorded in the month",
    "csat_average_per_ticket": "mean over tickets of each ticket's mean satisfaction in the month",
    "csat_4_or_5_pct": "share of follow-up responses scoring 4 or 5",
    "mean_wall_hours_to_root_cause": "wall-clock hours from opening to root cause found, for those found in the month",
    "mean_sla_hours_to_root_cause": "the same in the SLA's basis (business hours for P2/P3), pauses left out",
    "mean_wall_hours_to_fix": "wall-clock hours from opening to first resolution, for those resolved in the month",
    "mean_sla_hours_to_fix": "the same in the SLA's basis (business hours for P2/P3), pauses left out",
    "complaints": "complaints made in the month",
    "complaints_closed_on_time_pct": "complaints closed with their report within 48 h, over closures due in the month",
    "follow_ups_on_time_pct": "follow-ups done by their date + 1 day, over those due in the month (early ones count)",
}


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """The month's first moment and the next month's, in UTC, cut in ``timezone``. ValueError if malformed."""
    parsed = datetime.strptime(month, "%Y-%m")
    if not 1900 <= parsed.year <= 9000:
        raise ValueError(f"month {month} is out of range")
    zone = ZoneInfo(timezone)
    start = parsed.replace(tzinfo=zone)
    end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_months(month: str, count: int) -> list[str]:
    """The ``count`` months before ``month``, most recent first."""
    year, number = (int(part) for part in datetime.strptime(month, "%Y-%m").strftime("%Y %m").split())
    out = []
    for _ in range(count):
        year, number = (year - 1, 12) if number == 1 else (year, number - 1)
        out.append(f"{year:04d}-{number:02d}")
    return out


def counted_at(clock: Clock, now: datetime) -> datetime | None:
    """When a target's outcome fell due (met: when met; missed: at its deadline); None if it never did."""
    if clock.state in ON_TIME:
        return clock.met_at
    if clock.state in (ClockState.MET_LATE, ClockState.BREACHED) and clock.due < now:
        return clock.due
    return None


@dataclass
class _Tally:
    opened: int = 0
    resolved: int = 0
    due: Counter[str] = field(default_factory=Counter)
    on_time: Counter[str] = field(default_factory=Counter)
    scores: list[int] = field(default_factory=list)
    ticket_scores: list[float] = field(default_factory=list)
    hours: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    complaints: int = 0
    early_follow_ups: int = 0

    def merge(self, other: _Tally) -> None:
        self.opened += other.opened
        self.resolved += other.resolved
        self.due.update(other.due)
        self.on_time.update(other.on_time)
        self.scores += other.scores
        self.ticket_scores += other.ticket_scores
        for key, values in other.hours.items():
            self.hours[key] += values
        self.complaints += other.complaints
        self.early_follow_ups += other.early_follow_ups


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _mean(values: Sequence[float]) -> float | None:
    return round(mean(values), 2) if values else None


def _row(tally: _Tally) -> dict[str, Any]:
    due, on_time, hours = tally.due, tally.on_time, tally.hours
    return {
        "tickets_opened": tally.opened,
        "resolved_at_month_end": tally.resolved,
        "resolution_rate_pct": _pct(tally.resolved, tally.opened),
        "first_response_due": due["first_response"],
        "first_response_on_time": on_time["first_response"],
        "first_response_on_time_pct": _pct(on_time["first_response"], due["first_response"]),
        "updates_due": due["update"],
        "updates_on_time": on_time["update"],
        "update_cadence_on_time_pct": _pct(on_time["update"], due["update"]),
        "resolution_targets_due": due["resolution"],
        "resolution_targets_on_time": on_time["resolution"],
        "resolution_targets_on_time_pct": _pct(on_time["resolution"], due["resolution"]),
        "silence_72h_breaches": due[SILENCE_LIMIT.name] - on_time[SILENCE_LIMIT.name],
        "mean_wall_hours_to_root_cause": _mean(hours["wall_root_cause"]),
        "mean_sla_hours_to_root_cause": _mean(hours["sla_root_cause"]),
        "mean_wall_hours_to_fix": _mean(hours["wall_fix"]),
        "mean_sla_hours_to_fix": _mean(hours["sla_fix"]),
        "csat_responses": len(tally.scores),
        "csat_average_per_response": _mean(tally.scores),
        "csat_tickets": len(tally.ticket_scores),
        "csat_average_per_ticket": _mean(tally.ticket_scores),
        "csat_4_or_5_pct": _pct(sum(1 for s in tally.scores if s >= 4), len(tally.scores)),
        "complaints": tally.complaints,
        "complaints_closed_due": due["complaint_close"],
        "complaints_closed_on_time": on_time["complaint_close"],
        "complaints_closed_on_time_pct": _pct(on_time["complaint_close"], due["complaint_close"]),
        "follow_ups_due": due["follow_up"],
        "follow_ups_on_time": on_time["follow_up"],
        "follow_ups_early": tally.early_follow_ups,
        "follow_ups_on_time_pct": _pct(on_time["follow_up"], due["follow_up"]),
    }


def _before(log: Sequence[TicketEvent], end: datetime) -> list[TicketEvent]:
    return [e for e in log if e.ts < end]


def fault_type(log: Sequence[TicketEvent]) -> str:
    classified = [e.data for e in log if e.kind == EventKind.CLASSIFIED]
    return str(classified[-1].get("type")) if classified else "unclassified"


def _tally_ticket(
    ticket: Ticket,
    ticket_clocks: Sequence[Clock],
    start: datetime,
    end: datetime,
    now: datetime,
    service: TicketService,
) -> tuple[tuple[str, str], _Tally] | None:
    log = ticket.events
    known = _before(log, end)
    if not known:
        return None
    segments = priority_segments(known, ticket.intake.priority)
    tally = _Tally()
    if start <= ticket.created_at < end:
        tally.opened = 1
        tally.resolved = int(current_state(known) in FINISHED_STATES)
    for clock in ticket_clocks:
        moment = counted_at(clock, now)
        if moment is None or not start <= moment < end:
            continue
        key = "resolution" if clock.target in RESOLUTION_TARGETS else clock.target
        tally.due[key] += 1
        tally.on_time[key] += clock.state in ON_TIME
        tally.early_follow_ups += clock.state is ClockState.EARLY
    in_month = [e for e in known if e.ts >= start]
    scores = [
        int(e.data["satisfaction"]) for e in in_month if e.kind == EventKind.FOLLOW_UP and e.data.get("satisfaction")
    ]
    tally.scores = scores
    tally.ticket_scores = [mean(scores)] if scores else []
    tally.complaints = sum(1 for e in in_month if e.kind == EventKind.COMPLAINT)
    firsts = {
        "root_cause": next(
            (e.ts for e in log if e.kind == EventKind.MILESTONE and e.data.get("name") == "root_cause_found"), None
        ),
        "fix": next((e.ts for e in log if e.kind == EventKind.TRANSITION and e.data.get("to") == "resolved"), None),
    }
    paused = pauses(log, now)
    for name, moment in firsts.items():
        if moment is not None and start <= moment < end:
            calendar = calendar_for(priority_at(segments, moment), service.calendar, service.levels)
            tally.hours[f"wall_{name}"].append((moment - ticket.created_at).total_seconds() / 3600)
            tally.hours[f"sla_{name}"].append(
                elapsed(calendar, ticket.created_at, moment, paused).total_seconds() / 3600
            )
    if not (tally.opened or sum(tally.due.values()) or scores or tally.complaints or tally.hours):
        return None
    return (segments[-1][1].value, fault_type(known)), tally


def _month(
    tickets: Sequence[Ticket],
    every_clock: dict[int, list[Clock]],
    services: dict[int, TicketService],
    month: str,
    timezone: str,
    now: datetime,
) -> tuple[list[dict[str, Any]], dict[str, Any], list[Ticket]]:
    start, end = month_bounds(month, timezone)
    rows: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    opened = []
    for ticket in tickets:
        counted = _tally_ticket(ticket, every_clock[ticket.id], start, end, now, services[ticket.id])
        if counted is None:
            continue
        key, tally = counted
        rows[key].merge(tally)
        if tally.opened:
            opened.append(ticket)
    total = _Tally()
    for tally in rows.values():
        total.merge(tally)
    lines = [
        {"priority": priority, "fault_type": kind, **_row(rows[(priority, kind)])} for priority, kind in sorted(rows)
    ]
    return lines, {"priority": "all", "fault_type": "all", **_row(total)}, opened


def monthly_report(
    tickets: Sequence[Ticket], months: Sequence[str], support: SupportConfig, now: datetime
) -> dict[str, Any]:
    """The report for ``months[0]``, with the trend over ``months[1:]`` (the months before, most recent first);
    each ticket measured under the service levels and calendar that apply to it."""
    services = {t.id: service_for(support, t) for t in tickets}
    every_clock = {t.id: ticket_clocks(support, t, now) for t in tickets}
    rows, totals, opened = _month(tickets, every_clock, services, months[0], support.timezone, now)
    trend = []
    for month in reversed(months[1:]):
        trend.append(
            {"month": month, **_trend_figures(_month(tickets, every_clock, services, month, support.timezone, now)[1])}
        )
    trend.append({"month": months[0], **_trend_figures(totals)})
    default = support.calendar()
    return {
        "month": months[0],
        "timezone": support.timezone,
        "rows": rows,
        "totals": totals,
        "trend": trend,
        "hot_spots": hot_spots(opened, ZoneInfo(support.timezone)),
        "labels": LABELS,
        "sla_basis": {
            p.value: "wall_time" if calendar_for(p, default).around_the_clock else "business_hours" for p in Priority
        },
    }


def _trend_figures(totals: dict[str, Any]) -> dict[str, Any]:
    return {
        key: totals[key]
        for key in (
            "tickets_opened",
            "resolution_rate_pct",
            "first_response_on_time_pct",
            "update_cadence_on_time_pct",
            "csat_average_per_ticket",
            "complaints",
            "complaints_closed_on_time_pct",
        )
    }


def hot_spots(tickets: Sequence[Ticket], zone: ZoneInfo) -> dict[str, list[tuple[str, int]]]:
    """Where the month's new tickets cluster: device, firmware, hour of day (support time zone), fault signature."""
    devices: Counter[str] = Counter()
    firmware: Counter[str] = Counter()
    hours: Counter[str] = Counter()
    signatures: Counter[str] = Counter()
    for ticket in tickets:
        devices[ticket.intake.device] += 1
        if ticket.intake.firmware:
            firmware[ticket.intake.firmware] += 1
        moment = ticket.intake.occurred_from or ticket.created_at
        hours[f"{moment.astimezone(zone):%H}:00"] += 1
        for bundle in ticket.bundles:
            if bundle.trigger.signature:
                signatures[bundle.trigger.signature] += 1
    return {
        "device": devices.most_common(5),
        "firmware": firmware.most_common(5),
        "hour_of_day": hours.most_common(5),
        "fault_signature": signatures.most_common(5),
    }


def report_csv(report: dict[str, Any]) -> str:
    """The rows and the totals row, the same fields and values as the JSON."""
    out = io.StringIO()
    lines = [*report["rows"], report["totals"]]
    writer = csv.DictWriter(out, fieldnames=["month", *report["totals"]])
    writer.writeheader()
    for line in lines:
        writer.writerow({"month": report["month"], **line})
    return out.getvalue()
