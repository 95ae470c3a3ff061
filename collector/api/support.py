"""The support process over HTTP: lifecycle, milestones, updates, priority, classification, assignment,
follow-ups with satisfaction, complaints, SLA clocks, the queue, monthly reports and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from shared.models import Priority

from ..auth import principal, require_role
from ..errors import BadRequest, Conflict
from ..models import Principal, Role, Ticket, TicketEvent, TicketState
from ..state import CLOCK, CONFIG, DB
from ..store import Store
from ..support.clocks import CADENCE_TARGETS, Clock, ClockState, current_state, next_follow_up
from ..support.events import EventKind
from ..support.levels import service_for, ticket_clocks
from ..support.lifecycle import MILESTONES, SOLUTION_KINDS, check_transition, follow_up_dates
from ..support.reports import TREND_MONTHS, month_bounds, monthly_report, previous_months, report_csv
from .common import json_body, model_json, parse_model
from .tickets import ticket_json, visible_ticket

routes = web.RouteTableDef()
STAFF = (Role.ENGINEER, Role.ADMIN, Role.PARTNER)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceReport(_Body):
    """What the customer is told when the ticket is resolved (sent with the resolution message)."""

    root_cause: str = Field(min_length=1, max_length=2000)
    solution: str = Field(min_length=1, max_length=2000)
    advice: str | None = Field(default=None, max_length=2000, description="maintenance advice")


class TransitionRequest(_Body):
    to: TicketState
    solution: str | None = Field(
        default=None, description="remote, upgrade, configuration or on_site (into 'solution')"
    )
    note: str | None = Field(default=None, max_length=4000, description="a staff remark (internal)")
    report: ServiceReport | None = Field(default=None, description="the service report, when resolving")


class MilestoneRequest(_Body):
    name: str = Field(json_schema_extra={"enum": [*sorted(MILESTONES)]})
    text: str | None = Field(default=None, max_length=4000, description="what was found or done, for the customer")


class UpdateRequest(_Body):
    text: str = Field(
        min_length=1, max_length=4000, description="what was done and what comes next, with an expected time"
    )
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
    assignee: str | None = Field(default=None, max_length=100, description="the person working on it")


class FollowUpRequest(_Body):
    satisfaction: int = Field(ge=1, le=5)
    recurred: bool = False
    new_request: str | None = Field(default=None, max_length=4000)
    comment: str | None = Field(default=None, max_length=2000, description="the customer's words on the service")


class ComplaintRequest(_Body):
    text: str = Field(min_length=1, max_length=4000)


class ComplaintMilestoneRequest(_Body):
    # The schema says what the handler enforces: closing takes a report with some text in it.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"name": {"const": "close"}}, "required": ["name"]},
            "then": {"required": ["report"], "properties": {"report": {"type": "string", "pattern": "\\S"}}},
        }
    )

    name: Literal["ack", "plan", "close"]
    complaint_id: int | None = Field(
        default=None, description="the complaint's event id; none = the oldest one not closed"
    )
    report: str | None = Field(default=None, max_length=10_000, description="the complaint report: required to close")


async def _ticket_for_change(request: web.Request, *roles: Role) -> tuple[Principal, Ticket]:
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    require_role(who, *roles)
    return who, ticket


async def record(
    request: web.Request, ticket: Ticket, who: Principal, kind: str, data: dict[str, Any], **projection: Any
) -> Any:
    return (await record_all(request, ticket, who, [(kind, data)], **projection))[0]


async def record_all(
    request: web.Request, ticket: Ticket, who: Principal, events: list[tuple[str, dict[str, Any]]], **projection: Any
) -> list[Any]:
    """Several events in one transaction, compare-and-set on the ``expect_…`` values given."""
    stamped = [(kind, {**data, "role": who.role.value}) for kind, data in events]
    return await request.app[DB].run(
        Store.append_ticket_events, ticket.id, who.name, stamped, request.app[CLOCK](), **projection
    )


@routes.post("/api/v1/tickets/{ticket_id}/transition")
async def transition(request: web.Request) -> web.Response:
    """Move a ticket along its lifecycle. A customer may only confirm (awaiting_confirmation → resolved).

    Compare-and-set: the move is written only if the ticket is still in the state it was read in (409
    ``ticket_changed`` otherwise); resolving schedules the follow-ups in the same transaction."""
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    body = parse_model(TransitionRequest, await json_body(request))
    return model_json(await apply_transition(request, who, ticket, body), status=201)


async def apply_transition(
    request: web.Request, who: Principal, ticket: Ticket, body: TransitionRequest
) -> TicketEvent:
    current = TicketState(current_state(ticket.events))
    if who.role is Role.CUSTOMER and not (
        current is TicketState.AWAITING_CONFIRMATION and body.to is TicketState.RESOLVED
    ):
        require_role(who, *STAFF)
    check_transition(current, body.to)
    if body.to is TicketState.SOLUTION and body.solution not in SOLUTION_KINDS:
        raise BadRequest(f"a solution is one of {sorted(SOLUTION_KINDS)}", code="body_invalid")
    events: list[tuple[str, dict[str, Any]]] = [
        (
            EventKind.TRANSITION,
            {
                "from": current.value,
                "to": body.to.value,
                "solution": body.solution,
                "note": body.note,
                "report": body.report.model_dump() if body.report else None,
            },
        )
    ]
    if body.to is TicketState.RESOLVED:
        events += [
            (EventKind.FOLLOW_UP_SCHEDULED, {"index": index, "due": due.isoformat()})
            for index, due in enumerate(follow_up_dates(ticket.priority, request.app[CLOCK]()), start=1)
        ]
    written = await record_all(request, ticket, who, events, state=body.to, expect_state=current)
    return written[0]


@routes.post("/api/v1/tickets/{ticket_id}/milestones")
async def milestone(request: web.Request) -> web.Response:
    who, ticket = await _ticket_for_change(request, *STAFF)
    body = parse_model(MilestoneRequest, await json_body(request))
    return model_json(await apply_milestone(request, who, ticket, body), status=201)


async def apply_milestone(request: web.Request, who: Principal, ticket: Ticket, body: MilestoneRequest) -> TicketEvent:
    require_role(who, *STAFF)
    if body.name not in MILESTONES:
        raise BadRequest(f"milestones: {sorted(MILESTONES)}", code="body_invalid")
    return await record(request, ticket, who, EventKind.MILESTONE, {"name": body.name, "text": body.text})


@routes.post("/api/v1/tickets/{ticket_id}/updates")
async def progress_update(request: web.Request) -> web.Response:
    """A progress notice the customer sees: it restarts the update-cadence clock."""
    who, ticket = await _ticket_for_change(request, *STAFF)
    body = parse_model(UpdateRequest, await json_body(request))
    return model_json(await apply_update(request, who, ticket, body), status=201)


async def apply_update(request: web.Request, who: Principal, ticket: Ticket, body: UpdateRequest) -> TicketEvent:
    require_role(who, *STAFF)
    data = {
        "text": body.text,
        "public": True,
        "priority": ticket.priority.value,
        "expected_by": body.expected_by.isoformat() if body.expected_by else None,
    }
    return await record(request, ticket, who, EventKind.UPDATE, data)


@routes.post("/api/v1/tickets/{ticket_id}/priority")
async def change_priority(request: web.Request) -> web.Response:
    who, ticket = await _ticket_for_change(request, Role.ENGINEER, Role.ADMIN)
    body = parse_model(PriorityRequest, await json_body(request))
    return model_json(await apply_priority(request, who, ticket, body), status=201)


async def apply_priority(request: web.Request, who: Principal, ticket: Ticket, body: PriorityRequest) -> TicketEvent:
    require_role(who, Role.ENGINEER, Role.ADMIN)
    if body.priority is ticket.priority:
        raise Conflict(f"the ticket is already {body.priority}", code="priority_unchanged")
    return await record(
        request,
        ticket,
        who,
        EventKind.PRIORITY_CHANGED,
        {"from": ticket.priority.value, "to": body.priority.value, "reason": body.reason},
        priority=body.priority,
        expect_priority=ticket.priority,
    )


@routes.post("/api/v1/tickets/{ticket_id}/classify")
async def classify(request: web.Request) -> web.Response:
    who, ticket = await _ticket_for_change(request, *STAFF)
    body = parse_model(ClassifyRequest, await json_body(request))
    return model_json(await apply_classify(request, who, ticket, body), status=201)


async def apply_classify(request: web.Request, who: Principal, ticket: Ticket, body: ClassifyRequest) -> TicketEvent:
    require_role(who, *STAFF)
    return await record(request, ticket, who, EventKind.CLASSIFIED, body.model_dump())


@routes.post("/api/v1/tickets/{ticket_id}/assign")
async def assign(request: web.Request) -> web.Response:
    who, ticket = await _ticket_for_change(request, Role.ENGINEER, Role.ADMIN)
    body = parse_model(AssignRequest, await json_body(request))
    return model_json(await apply_assign(request, who, ticket, body), status=201)


async def apply_assign(request: web.Request, who: Principal, ticket: Ticket, body: AssignRequest) -> TicketEvent:
    require_role(who, Role.ENGINEER, Role.ADMIN)
    return await record(
        request, ticket, who, EventKind.ASSIGNED, body.model_dump(), group=body.group, partner=body.partner
    )


def assignee_of(ticket: Ticket) -> str | None:
    """The person the ticket was last assigned to (an assignment without a person keeps the previous one)."""
    named = [e.data["assignee"] for e in ticket.events if e.kind == EventKind.ASSIGNED and e.data.get("assignee")]
    return named[-1] if named else None


@routes.post("/api/v1/tickets/{ticket_id}/follow-ups")
async def follow_up(request: web.Request) -> web.Response:
    """A follow-up after resolution: satisfaction 1–5, recurrence (which reopens the ticket), new requests.

    It answers the next scheduled follow-up (``index``; ``early`` when recorded before its date); the last one
    its priority requires closes the ticket. Written with its transition in one compare-and-set transaction."""
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    body = parse_model(FollowUpRequest, await json_body(request))
    return model_json(await apply_follow_up(request, who, ticket, body), status=201)


async def apply_follow_up(request: web.Request, who: Principal, ticket: Ticket, body: FollowUpRequest) -> TicketEvent:
    current = TicketState(current_state(ticket.events))
    planned = next_follow_up(ticket.events)
    if current not in (TicketState.RESOLVED, TicketState.FOLLOW_UP) or planned is None:
        raise Conflict("follow-ups come after resolution, as scheduled", code="transition_invalid")
    index, date, last = planned
    now = request.app[CLOCK]()
    events: list[tuple[str, dict[str, Any]]] = [
        (EventKind.FOLLOW_UP, {**body.model_dump(), "index": int(index), "due": date.isoformat(), "early": now < date})
    ]
    to = (
        TicketState.DIAGNOSING
        if body.recurred
        else TicketState.CLOSED
        if last
        else TicketState.FOLLOW_UP
        if current is TicketState.RESOLVED
        else None
    )
    if to is not None:
        events.append(
            (EventKind.TRANSITION, {"from": current.value, "to": to.value, "reopened": body.recurred or None})
        )
    done = sum(1 for e in ticket.events if e.kind == EventKind.FOLLOW_UP)
    written = await record_all(
        request, ticket, who, events, state=to, expect_state=current, expect_count=(EventKind.FOLLOW_UP, done)
    )
    return written[0]


@routes.post("/api/v1/tickets/{ticket_id}/complaints")
async def complaint(request: web.Request) -> web.Response:
    """A complaint: its own acknowledge (2 h), plan (24 h) and close (48 h) clocks; its event id names it."""
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    body = parse_model(ComplaintRequest, await json_body(request))
    return model_json(await record(request, ticket, who, EventKind.COMPLAINT, {"text": body.text}), status=201)


@routes.post("/api/v1/tickets/{ticket_id}/complaints/milestones")
async def complaint_milestone(request: web.Request) -> web.Response:
    """Acknowledge, plan or close one complaint; closing requires the complaint report."""
    who, ticket = await _ticket_for_change(request, Role.ENGINEER, Role.ADMIN)
    body = parse_model(ComplaintMilestoneRequest, await json_body(request))
    return model_json(await apply_complaint_milestone(request, who, ticket, body), status=201)


async def apply_complaint_milestone(
    request: web.Request, who: Principal, ticket: Ticket, body: ComplaintMilestoneRequest
) -> TicketEvent:
    require_role(who, Role.ENGINEER, Role.ADMIN)
    complaints = [e.id for e in ticket.events if e.kind == EventKind.COMPLAINT]
    milestones = [e for e in ticket.events if e.kind == EventKind.COMPLAINT_MILESTONE]
    reached = {
        (e.data.get("complaint_id", complaints[0] if complaints else None), e.data.get("name")) for e in milestones
    }
    target = body.complaint_id
    if target is None:
        target = next((c for c in complaints if (c, "close") not in reached), None)
    if target not in complaints:
        raise Conflict("this ticket has no such open complaint", code="no_complaint")
    if (target, "close") in reached or (target, body.name) in reached:
        raise Conflict(f"complaint {target} already has '{body.name}' or is closed", code="complaint_milestone_done")
    if body.name == "close" and not (body.report or "").strip():
        raise BadRequest("closing a complaint requires its complaint report", code="report_required")
    return await record(
        request,
        ticket,
        who,
        EventKind.COMPLAINT_MILESTONE,
        {**body.model_dump(), "complaint_id": target},
        expect_count=(EventKind.COMPLAINT_MILESTONE, len(milestones)),
    )


def _clock_dict(c: Clock, now: datetime) -> dict[str, Any]:
    return {
        "target": c.target,
        "ref": c.ref,
        "due": c.due.isoformat(),
        "met_at": c.met_at.isoformat() if c.met_at else None,
        "not_before": c.not_before.isoformat() if c.not_before else None,
        "state": c.state.value,
        "basis": "business_hours" if c.business else "wall_time",
        "seconds_left": None if c.final else round((c.due - now).total_seconds()),
    }


def clock_json(ticket: Ticket, request: web.Request) -> list[dict[str, Any]]:
    """The ticket's clocks: every one-time target, complaint and follow-up, the open update intervals and the
    missed ones (met update intervals are routine and left out)."""
    now = request.app[CLOCK]()
    shown = [
        c
        for c in ticket_clocks(request.app[CONFIG].support, ticket, now)
        if not (c.target in CADENCE_TARGETS and c.final and c.state is not ClockState.BREACHED)
    ]
    return [_clock_dict(c, now) for c in shown]


@routes.get("/api/v1/tickets/{ticket_id}/sla")
async def sla(request: web.Request) -> web.Response:
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    service = service_for(request.app[CONFIG].support, ticket)
    return web.json_response(
        {
            "ticket_id": ticket.id,
            "priority": ticket.priority.value,
            "policy": service.policy,
            "clocks": clock_json(ticket, request),
        }
    )


async def queue_entries(
    request: web.Request,
    who: Principal,
    priority: str | None = None,
    group: str | None = None,
    state: str | None = None,
    assignee: str | None = None,
) -> list[dict[str, Any]]:
    partner = who.name if who.role is Role.PARTNER else None
    tickets = await request.app[DB].run(
        Store.list_tickets,
        open_only=True,
        full=True,
        partner=partner,
        priority=Priority(priority) if priority else None,
        group=group or None,
        state=TicketState(state) if state else None,
    )
    entries = []
    for ticket in tickets:
        if assignee is not None and assignee_of(ticket) != assignee:
            continue
        open_clocks = [c for c in clock_json(ticket, request) if c["seconds_left"] is not None]
        nearest = min(open_clocks, key=lambda c: c["due"], default=None)
        entries.append(
            {
                **ticket_json(ticket.model_copy(update={"events": [], "bundles": []})),
                "clocks": open_clocks,
                "next_due": nearest,
                "assignee": assignee_of(ticket),
            }
        )
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


async def month_report(request: web.Request, month: str | None) -> dict[str, Any]:
    """The month's figures (default: the current one) in the support organisation's time zone, with the trend
    over the months before."""
    support = request.app[CONFIG].support
    month = month or request.app[CLOCK]().astimezone(ZoneInfo(support.timezone)).strftime("%Y-%m")
    try:
        months = [month, *previous_months(month, TREND_MONTHS)]
        (_, end), (earliest, _) = month_bounds(month, support.timezone), month_bounds(months[-1], support.timezone)
    except ValueError as exc:
        raise BadRequest("month must look like 2026-11", code="bad_request") from exc
    tickets = await request.app[DB].run(Store.tickets_for_month, earliest, end)
    return monthly_report(tickets, months, support, request.app[CLOCK]())


@routes.get("/api/v1/reports/monthly")
async def monthly(request: web.Request) -> web.Response:
    who = await principal(request)
    require_role(who, Role.ENGINEER, Role.ADMIN)
    report = await month_report(request, request.query.get("month"))
    if request.query.get("format") == "csv":
        return web.Response(text=report_csv(report), content_type="text/csv")
    return web.json_response(report)


@routes.get("/api/v1/audit")
async def audit(request: web.Request) -> web.Response:
    who = await principal(request)
    require_role(who, Role.ADMIN)
    limit = request.query.get("limit", "200")
    if not limit.isdecimal():
        raise BadRequest("limit must be a whole number", code="bad_request")
    entries = await request.app[DB].run(
        Store.audit_log, target=request.query.get("target"), limit=min(int(limit), 2000)
    )
    return web.json_response({"entries": entries})
