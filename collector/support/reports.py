"""Monthly figures per priority and fault type, from tickets and their event logs (pure)."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from statistics import mean
from typing import Any

from ..models import Ticket
from .calendar import BusinessCalendar
from .clocks import clocks, update_cadence


def _fault_type(ticket: Ticket) -> str:
    classified = [e.data for e in ticket.events if e.kind == "classified"]
    return str(classified[-1].get("type")) if classified else "unclassified"


def _hours(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds() / 3600


def monthly_report(tickets: Sequence[Ticket], month: str, calendar: BusinessCalendar, now: datetime) -> dict[str, Any]:
    groups: dict[tuple[str, str], list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        groups[(ticket.priority.value, _fault_type(ticket))].append(ticket)
    rows = []
    for (priority, fault_type), members in sorted(groups.items()):
        first_on_time = updates_on_time = updates_due = resolved = complaints = complaints_closed_on_time = 0
        to_root: list[float] = []
        to_fix: list[float] = []
        scores: list[int] = []
        for ticket in members:
            log = ticket.events
            ticket_clocks = {c.target: c for c in clocks(log, log_priority(ticket), now, calendar)}
            first_on_time += ticket_clocks["first_response"].state == "met"
            on_time, due = update_cadence(log, log_priority(ticket), calendar)
            updates_on_time, updates_due = updates_on_time + on_time, updates_due + due
            root = next((e.ts for e in log if e.kind == "milestone" and e.data.get("name") == "root_cause_found"), None)
            fixed = next((e.ts for e in log if e.kind == "transition" and e.data.get("to") == "resolved"), None)
            resolved += fixed is not None
            to_root += [h for h in [_hours(ticket.created_at, root)] if h is not None]
            to_fix += [h for h in [_hours(ticket.created_at, fixed)] if h is not None]
            scores += [int(e.data["satisfaction"]) for e in log if e.kind == "follow_up" and e.data.get("satisfaction")]
            if any(e.kind == "complaint" for e in log):
                complaints += 1
                closed = ticket_clocks.get("complaint_close")
                complaints_closed_on_time += closed is not None and closed.state == "met"
        count = len(members)
        rows.append({
            "priority": priority, "fault_type": fault_type, "tickets": count,
            "first_response_on_time_pct": round(100 * first_on_time / count, 1),
            "update_cadence_on_time_pct": round(100 * updates_on_time / updates_due, 1) if updates_due else None,
            "resolution_rate_pct": round(100 * resolved / count, 1),
            "mean_hours_to_root_cause": round(mean(to_root), 2) if to_root else None,
            "mean_hours_to_fix": round(mean(to_fix), 2) if to_fix else None,
            "csat_average": round(mean(scores), 2) if scores else None,
            "csat_4_or_5_pct": round(100 * sum(1 for s in scores if s >= 4) / len(scores), 1) if scores else None,
            "complaints": complaints, "complaints_closed_on_time": complaints_closed_on_time,
        })
    return {"month": month, "tickets": len(tickets), "rows": rows, "hot_spots": hot_spots(tickets)}


def log_priority(ticket: Ticket):  # type: ignore[no-untyped-def]
    """The priority the ticket was opened with (clocks replay later changes from the log)."""
    return ticket.intake.priority


def hot_spots(tickets: Sequence[Ticket]) -> dict[str, list[tuple[str, int]]]:
    devices: Counter[str] = Counter()
    firmware: Counter[str] = Counter()
    hours: Counter[str] = Counter()
    signatures: Counter[str] = Counter()
    for ticket in tickets:
        devices[ticket.intake.device] += 1
        if ticket.intake.firmware:
            firmware[ticket.intake.firmware] += 1
        moment = ticket.intake.occurred_from or ticket.created_at
        hours[f"{moment:%H}:00"] += 1
        for bundle in ticket.bundles:
            if bundle.trigger.signature:
                signatures[bundle.trigger.signature] += 1
    return {"device": devices.most_common(5), "firmware": firmware.most_common(5), "hour_of_day": hours.most_common(5),
            "fault_signature": signatures.most_common(5)}


def report_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    rows = report["rows"]
    fields = list(rows[0]) if rows else ["priority", "fault_type", "tickets"]
    writer = csv.DictWriter(out, fieldnames=["month", *fields])
    writer.writeheader()
    for row in rows:
        writer.writerow({"month": report["month"], **row})
    return out.getvalue()
