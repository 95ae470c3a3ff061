"""The support process over HTTP: lifecycle, milestones, updates, priority, classification, assignment,
follow-ups with satisfaction, complaints, SLA clocks, the queue, monthly reports and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from shared.models import Priority

from ..auth import principal, require_role
from ..errors import BadRequest, Conflict
from ..models import Principal, Role, Ticket, TicketState
from ..state import CLOCK, CONFIG, DB
from ..store import SqliteStore
from ..support.clocks import clocks, current_state
from ..support.lifecycle import MILESTONES, SOLUTION_KINDS, check_transition, follow_up_dates
from ..support.reports import monthly_report, report_csv
from .common import json_body, model_json, parse_model
from .tickets import ticket_json, visible_ticket

routes = web.RouteTableDef()
STAFF = (Role.ENGINEER, Role.ADMIN, Role.PARTNER)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TransitionRequest(_Body):
    to: TicketState
    solution: str | None = Field(default=None, description="remote, upgrade, configuration or on_site (into 'solution')")
    note: str | None = Field(default=None, max_length=4000)


class MilestoneRequest(_Body):
    name: str = Field(json_schema_extra={"enum": sorted(MILESTONES)})


class UpdateRequest(_Body):
    text: str = Field(min_length=1, max_length=4000, description="what was done and what comes next, with an expected time")
    expected_by: datetime | None = None


class PriorityRequest(_Body):
    priority: Priority
    reason: str = Field(min_length=1, max_length=1000)


class ClassifyRequest(_Body):
    type: Literal["software", "hardware", "network", "human_error"]
    cause: str = Field(min_length=1, max_length=500)
    impact: str = Field(min_length=1, max_length=500, description="downtime, data loss, function lost…")


class AssignRequest(_Body):
    group: str | None = Field(default=None, max_length=100)
    partner: str | None = Field(default=None, max_length=100)


class FollowUpRequest(_Body):
    satisfaction: int = Field(ge=1, le=5)
    recurred: bool = False
    new_request: str | None = Field(default=None, max_length=4000)


class ComplaintRequest(_Body):
    text: str = Field(min_length=1, max_length=4000)


class ComplaintMilestoneRequest(_Body):
    name: Literal["ack", "plan", "close"]
    report: str | None = Field(default=None, max_length=10_000)


async def _ticket_for_change(request: web.Request, *roles: Role) -> tuple[Principal, Ticket]:
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    require_role(who, *roles)
    return who, ticket


async def record(request: web.Request, ticket: Ticket, who: Principal, kind: str, data: dict[str, Any], **projection: Any) -> Any:
    return await request.app[DB].run(SqliteStore.append_ticket_event, ticket.id, who.name, kind,
                                     {**data, "role": who.role.value}, request.app[CLOCK](), **projection)


@routes.post("/api/v1/tickets/{ticket_id}/transition")
async def transition(request: web.Request) -> web.Response:
    """Move a ticket along its lifecycle. A customer may only confirm (awaiting_confirmation → resolved)."""
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    body = parse_model(TransitionRequest, await json_body(request))
    current = TicketState(current_state(ticket.events))
    if who.role is Role.CUSTOMER and not (current is TicketState.AWAITING_CONFIRMATION and body.to is TicketState.RESOLVED):
        require_role(who, *STAFF)
    check_transition(current, body.to)
    if body.to is TicketState.SOLUTION and body.solution not in SOLUTION_KINDS:
        raise BadRequest(f"a solution is one of {sorted(SOLUTION_KINDS)}", code="body_invalid")
    event = await record(request, ticket, who, "transition",
                         {"from": current.value, "to": body.to.value, "solution": body.solution, "note": body.note},
                         state=body.to)
    if body.to is TicketState.RESOLVED:
        for index, due in enumerate(follow_up_dates(ticket.priority, event.ts), start=1):
            await record(request, ticket, who, "follow_up_scheduled", {"index": index, "due": due.isoformat()})
    return model_json(event, status=201)


@routes.post("/api/v1/tickets/{ticket_id}/milestones")
async def milestone(request: web.Request) -> web.Response:
    who, ticket = await _ticket_for_change(request, *STAFF)
    body = parse_model(MilestoneRequest, await json_body(request))
    if body.name not in MILESTONES:
        raise BadRequest(f"milestones: {sorted(MILESTONES)}", code="body_invalid")
    return model_json(await record(request, ticket, who, "milestone", {"name": body.name}), status=201)


@routes.post("/api/v1/tickets/{ticket_id}/updates")
async def progress_update(request: web.Request) -> web.Response:
    """A progress notice the customer sees: it restarts the update-cadence clock."""
    who, ticket = await _ticket_for_change(request, *STAFF)
    body = parse_model(UpdateRequest, await json_body(request))
    data = {"text": body.text, "public": True, "priority": ticket.priority.value,
            "expected_by": body.expected_by.isoformat() if body.expected_by else None}
    return model_json(await record(request, ticket, who, "update", data), status=201)


@routes.post("/api/v1/tickets/{ticket_id}/priority")
async def change_priority(request: web.Request) -> web.Response:
    who, ticket = await _ticket_for_change(request, Role.ENGINEER, Role.ADMIN)
    body = parse_model(PriorityRequest, await json_body(request))
    if body.priority is ticket.priority:
        raise Conflict(f"the ticket is already {body.priority}", code="priority_unchanged")
    event = await record(request, ticket, who, "priority_changed",
                         {"from": ticket.priority.value, "to": body.priority.value, "reason": body.reason},
                         priority=body.priority)
    return model_json(event, status=201)


@routes.post("/api/v1/tickets/{ticket_id}/classify")
async def classify(request: web.Request) -> web.Response:
    who, ticket = await _ticket_for_change(request, *STAFF)
    body = parse_model(ClassifyRequest, await json_body(request))
    return model_json(await record(request, ticket, who, "classified", body.model_dump()), status=201)


@routes.post("/api/v1/tickets/{ticket_id}/assign")
async def assign(request: web.Request) -> web.Response:
    who, ticket = await _ticket_for_change(request, Role.ENGINEER, Role.ADMIN)
    body = parse_model(AssignRequest, await json_body(request))
    event = await record(request, ticket, who, "assigned", body.model_dump(), group=body.group, partner=body.partner)
    return model_json(event, status=201)


@routes.post("/api/v1/tickets/{ticket_id}/follow-ups")
async def follow_up(request: web.Request) -> web.Response:
    """A follow-up after resolution: satisfaction 1–5, recurrence (which reopens the ticket), new requests."""
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    body = parse_model(FollowUpRequest, await json_body(request))
    current = TicketState(current_state(ticket.events))
    if current not in (TicketState.RESOLVED, TicketState.FOLLOW_UP):
        raise Conflict("follow-ups come after resolution", code="transition_invalid")
    event = await record(request, ticket, who, "follow_up", body.model_dump())
    scheduled = sum(1 for e in ticket.events if e.kind == "follow_up_scheduled")
    done = sum(1 for e in ticket.events if e.kind == "follow_up") + 1
    if body.recurred:
        await record(request, ticket, who, "transition", {"from": current.value, "to": "diagnosing", "reopened": True},
                     state=TicketState.DIAGNOSING)
    elif done >= scheduled:
        await record(request, ticket, who, "transition", {"from": current.value, "to": "closed"}, state=TicketState.CLOSED)
    elif current is TicketState.RESOLVED:
        await record(request, ticket, who, "transition", {"from": "resolved", "to": "follow_up"}, state=TicketState.FOLLOW_UP)
    return model_json(event, status=201)


@routes.post("/api/v1/tickets/{ticket_id}/complaints")
async def complaint(request: web.Request) -> web.Response:
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    body = parse_model(ComplaintRequest, await json_body(request))
    return model_json(await record(request, ticket, who, "complaint", {"text": body.text}), status=201)


@routes.post("/api/v1/tickets/{ticket_id}/complaints/milestones")
async def complaint_milestone(request: web.Request) -> web.Response:
    who, ticket = await _ticket_for_change(request, Role.ENGINEER, Role.ADMIN)
    body = parse_model(ComplaintMilestoneRequest, await json_body(request))
    if not any(e.kind == "complaint" for e in ticket.events):
        raise Conflict("this ticket has no complaint", code="no_complaint")
    return model_json(await record(request, ticket, who, "complaint_milestone", body.model_dump()), status=201)


def clock_json(ticket: Ticket, request: web.Request) -> list[dict[str, Any]]:
    calendar = request.app[CONFIG].support.calendar()
    now = request.app[CLOCK]()
    return [{"target": c.target, "due": c.due.isoformat(), "met_at": c.met_at.isoformat() if c.met_at else None,
             "state": c.state, "seconds_left": None if c.met_at else round((c.due - now).total_seconds())}
            for c in clocks(ticket.events, ticket.intake.priority, now, calendar)]


@routes.get("/api/v1/tickets/{ticket_id}/sla")
async def sla(request: web.Request) -> web.Response:
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    return web.json_response({"ticket_id": ticket.id, "priority": ticket.priority.value, "clocks": clock_json(ticket, request)})


async def queue_entries(request: web.Request, who: Principal, priority: str | None = None, group: str | None = None,
                        state: str | None = None) -> list[dict[str, Any]]:
    partner = who.name if who.role is Role.PARTNER else None
    tickets = await request.app[DB].run(SqliteStore.list_tickets, open_only=True, full=True, partner=partner,
                                        priority=Priority(priority) if priority else None, group=group or None,
                                        state=TicketState(state) if state else None)
    entries = []
    for ticket in tickets:
        open_clocks = [c for c in clock_json(ticket, request) if c["met_at"] is None]
        nearest = min(open_clocks, key=lambda c: c["due"], default=None)
        entries.append({**ticket_json(ticket.model_copy(update={"events": [], "bundles": []})), "clocks": open_clocks,
                        "next_due": nearest})
    far = datetime.max.replace(tzinfo=UTC).isoformat()
    entries.sort(key=lambda e: e["next_due"]["due"] if e["next_due"] else far)
    return entries


@routes.get("/api/v1/queue")
async def queue(request: web.Request) -> web.Response:
    """Open tickets, nearest service-level deadline first (staff; partners see what is assigned to them)."""
    who = await principal(request)
    require_role(who, *STAFF)
    q = request.query
    try:
        entries = await queue_entries(request, who, q.get("priority"), q.get("group"), q.get("state"))
    except ValueError as exc:
        raise BadRequest(str(exc), code="bad_request") from exc
    return web.json_response({"tickets": entries})


def month_bounds(month: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadRequest("month must look like 2026-11", code="bad_request") from exc
    end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return start, end


async def month_report(request: web.Request, month: str) -> dict[str, Any]:
    start, end = month_bounds(month)
    tickets = await request.app[DB].run(SqliteStore.tickets_created_between, start, end)
    return monthly_report(tickets, month, request.app[CONFIG].support.calendar(), request.app[CLOCK]())


@routes.get("/api/v1/reports/monthly")
async def monthly(request: web.Request) -> web.Response:
    who = await principal(request)
    require_role(who, Role.ENGINEER, Role.ADMIN)
    month = request.query.get("month") or request.app[CLOCK]().strftime("%Y-%m")
    report = await month_report(request, month)
    if request.query.get("format") == "csv":
        return web.Response(text=report_csv(report), content_type="text/csv")
    return web.json_response(report)


@routes.get("/api/v1/audit")
async def audit(request: web.Request) -> web.Response:
    who = await principal(request)
    require_role(who, Role.ADMIN)
    entries = await request.app[DB].run(SqliteStore.audit_log, target=request.query.get("target"),
                                        limit=min(int(request.query.get("limit", "200")), 2000))
    return web.json_response({"entries": entries})



