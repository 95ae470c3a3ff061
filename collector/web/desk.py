"""The engineer's workspace: open a ticket from the intake template, reply publicly or note internally, move it
along the lifecycle, change its priority with a reason, assign it, record milestones, search.

Each form posts to a ``/ui/tickets/...`` route that calls the same action function as the JSON API (so the
rules, compare-and-set writes and audit are the API's), then redirects back to the ticket (POST/redirect/GET).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel

from ..api.bodies import AttachRequest, NoteRequest
from ..api.common import parse_model
from ..api.notify import ContactRequest
from ..api.support import (
    AssignRequest,
    ClassifyRequest,
    ComplaintMilestoneRequest,
    MilestoneRequest,
    PriorityRequest,
    ServiceReport,
    TransitionRequest,
    UpdateRequest,
    apply_assign,
    apply_classify,
    apply_complaint_milestone,
    apply_milestone,
    apply_priority,
    apply_transition,
    apply_update,
    month_report,
)
from ..api.tickets import add_note_event, open_ticket, visible_ticket
from ..errors import BadRequest, CollectorError, NotFound
from ..models import Principal, Role, Ticket, TicketState
from ..state import CLOCK, CONFIG, DB, OUTBOX
from ..store import Store
from ..store.contacts import Contact, Language, set_contact
from ..store.outbox import JobState, delivery_log
from ..store.search import search_tickets
from ..support.reports import report_csv
from . import CSRF, checked_form, render, signed_in
from .portal import add_image, form_with_image, ticket_image

routes = web.RouteTableDef()  # the engineers' desk, added to the app by collector.app
CHANNELS = ("hotline", "chat", "app", "e-mail", "self-diagnosis", "on-site")


async def _staff_form(request: web.Request, *roles: Role) -> tuple[Principal, Ticket, dict[str, str]]:
    who = await signed_in(request)
    form = await checked_form(request)
    ticket = await visible_ticket(request, who)
    if roles and who.role not in roles:
        raise web.HTTPForbidden(text=f"the {who.role} role may not do this")
    return who, ticket, form


def _done(request: web.Request, ticket: Ticket, anchor: str = "#history") -> web.HTTPSeeOther:
    outbox = request.app.get(OUTBOX)
    if outbox is not None:
        outbox.wake()
    return web.HTTPSeeOther(f"/ui/tickets/{ticket.id}{anchor}")


def _form_model(model: type[BaseModel], form: dict[str, str], *names: str) -> Any:
    """A body model from a form: empty fields are absent (the model's defaults apply)."""
    return parse_model(model, {name: form[name] for name in names if form.get(name, "").strip()})


@routes.get("/ui/tickets/new")
async def new_ticket_form(request: web.Request) -> web.Response:
    who = await signed_in(request)
    if who.role not in (Role.ENGINEER, Role.ADMIN):
        raise web.HTTPForbidden(text="partners work on assigned tickets; they do not open them")
    return render("desk_new.html", request, channels=CHANNELS, languages=list(Language), form={}, error=None)


_INTAKE = (
    "household",
    "customer",
    "device",
    "firmware",
    "when",
    "occurred_from",
    "symptom",
    "environment",
    "impact",
    "channel",
    "priority",
)


@routes.post("/ui/tickets")
async def create_ticket(request: web.Request) -> web.Response:
    who = await signed_in(request)
    form, image = await form_with_image(request)
    body: dict[str, Any] = {name: form[name].strip() for name in _INTAKE if form.get(name, "").strip()}
    try:
        if "occurred_from" in body:  # the form's local time, in the organisation's zone it names
            body["occurred_from"] = _local_input(body["occurred_from"], request.app[CONFIG].support.timezone)
        contact = _form_model(ContactRequest, {k: v.strip() for k, v in form.items()}, "email", "language", "timezone")
        ticket = await open_ticket(request, who, body)
    except BadRequest as exc:  # the form comes back filled in, with what was wrong
        return render(
            "desk_new.html",
            request,
            status=400,
            channels=CHANNELS,
            languages=list(Language),
            form=form,
            error=exc.message,
        )
    if contact.email or contact.timezone:
        await request.app[DB].run(
            set_contact,
            Contact(ticket.household, contact.email, contact.language, contact.timezone),
            request.app[CLOCK](),
        )
    if image is not None:  # the ticket stands; a refused image says why on the ticket's error page
        await add_image(request, who, ticket, *image)
    raise _done(request, ticket, "")


@routes.post("/ui/tickets/{ticket_id}/notes")
async def note(request: web.Request) -> web.Response:
    """A public reply (the customer sees it and is told) or an internal note (staff only)."""
    who, ticket, form = await _staff_form(request)
    await add_note_event(request, who, ticket, _form_model(NoteRequest, form, "text", "visibility"))
    raise _done(request, ticket)


@routes.post("/ui/tickets/{ticket_id}/transition")
async def transition(request: web.Request) -> web.Response:
    who, ticket, form = await _staff_form(request, Role.ENGINEER, Role.ADMIN, Role.PARTNER)
    report = None
    if form.get("to") == TicketState.RESOLVED and form.get("root_cause", "").strip():
        report = parse_model(
            ServiceReport,
            {
                "root_cause": form["root_cause"],
                "solution": form.get("solution_text", ""),
                "advice": form.get("advice") or None,
            },
        )
    body = _form_model(TransitionRequest, form, "to", "solution", "note")
    await apply_transition(request, who, ticket, body.model_copy(update={"report": report}))
    raise _done(request, ticket)


@routes.post("/ui/tickets/{ticket_id}/priority")
async def priority(request: web.Request) -> web.Response:
    who, ticket, form = await _staff_form(request)
    await apply_priority(request, who, ticket, _form_model(PriorityRequest, form, "priority", "reason"))
    raise _done(request, ticket)


@routes.post("/ui/tickets/{ticket_id}/assign")
async def assign(request: web.Request) -> web.Response:
    who, ticket, form = await _staff_form(request)
    if form.get("assignee") == "@me":
        form["assignee"] = who.name
    await apply_assign(request, who, ticket, _form_model(AssignRequest, form, "assignee", "group"))
    raise _done(request, ticket)


@routes.post("/ui/tickets/{ticket_id}/updates")
async def update(request: web.Request) -> web.Response:
    """A progress update: the customer reads it and is e-mailed, with the time of the next one."""
    who, ticket, form = await _staff_form(request)
    if form.get("expected_by", "").strip():
        form["expected_by"] = _local_input(form["expected_by"], request.app[CONFIG].support.timezone)
    await apply_update(request, who, ticket, _form_model(UpdateRequest, form, "text", "expected_by"))
    raise _done(request, ticket)


@routes.post("/ui/tickets/{ticket_id}/classify")
async def classify(request: web.Request) -> web.Response:
    """Fault type, cause and impact: what the monthly figures are cut by (internal)."""
    who, ticket, form = await _staff_form(request)
    await apply_classify(request, who, ticket, _form_model(ClassifyRequest, form, "type", "cause", "impact"))
    raise _done(request, ticket)


@routes.post("/ui/tickets/{ticket_id}/complaints/milestones")
async def complaint_step(request: web.Request) -> web.Response:
    """Acknowledge, plan or close a complaint (closing needs the complaint report)."""
    who, ticket, form = await _staff_form(request, Role.ENGINEER, Role.ADMIN)
    body = _form_model(ComplaintMilestoneRequest, form, "name", "report")
    complaint_id = _whole_number(form.get("complaint_id", ""), "the complaint")
    await apply_complaint_milestone(request, who, ticket, body.model_copy(update={"complaint_id": complaint_id}))
    raise _done(request, ticket)


@routes.post("/ui/tickets/{ticket_id}/milestones")
async def milestone(request: web.Request) -> web.Response:
    who, ticket, form = await _staff_form(request)
    await apply_milestone(request, who, ticket, _form_model(MilestoneRequest, form, "name", "text"))
    raise _done(request, ticket)


@routes.get("/ui/tickets/{ticket_id}/images/{sha256}")
async def desk_ticket_image(request: web.Request) -> web.Response:
    who = await signed_in(request)
    return await ticket_image(request, await visible_ticket(request, who))


@routes.get("/ui/reports.csv")
async def report_csv_file(request: web.Request) -> web.Response:
    """The monthly report as CSV for a signed-in engineer (the API's CSV needs a bearer token)."""
    who = await signed_in(request)
    if who.role not in (Role.ENGINEER, Role.ADMIN):
        raise web.HTTPForbidden(text="reports are for engineers and admins")
    report = await month_report(request, request.query.get("month"))
    return web.Response(
        text=report_csv(report),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="homediag-{report["month"]}.csv"'},
    )


@routes.post("/ui/tickets/{ticket_id}/bundles/move")
async def move_bundle(request: web.Request) -> web.Response:
    """Move one of this ticket's bundles to another ticket of the household (audited, an event on both)."""
    who, ticket, form = await _staff_form(request, Role.ENGINEER, Role.ADMIN)
    body = _form_model(AttachRequest, form, "bundle_id", "reason")
    if body.bundle_id not in {b.bundle_id for b in ticket.bundles}:
        raise NotFound("that bundle is not on this ticket", code="bundle_not_found")
    target = await visible_ticket(request, who, _whole_number(form.get("to_ticket", ""), "the target ticket"))
    await request.app[DB].run(Store.move_bundle, body.bundle_id, target.id, who.name, body.reason, request.app[CLOCK]())
    raise _done(request, target)


def _local_input(text: str, zone: str) -> str:
    """A ``datetime-local`` field's value read in ``zone``, as an ISO time with its offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest("a time must look like 2026-11-24T03:00", code="body_invalid") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))).isoformat()


def _whole_number(text: str, what: str) -> int:
    if not text.strip().isdigit():
        raise BadRequest(f"{what} must be a number", code="body_invalid")
    return int(text)


BULK_LIMIT = 200


@routes.post("/ui/bulk")
async def bulk(request: web.Request) -> web.Response:
    """Assign, or move along the lifecycle, many tickets at once; each one goes through the usual rules and the
    page says, ticket by ticket, what happened."""
    who = await signed_in(request)
    form = await request.post()
    if not secrets.compare_digest(str(form.get("csrf", "")), request[CSRF]):
        raise web.HTTPForbidden(text="CSRF token missing or wrong")
    if who.role not in (Role.ENGINEER, Role.ADMIN):
        raise web.HTTPForbidden(text="bulk changes are for engineers and admins")
    ids = [_whole_number(str(value), "each ticket") for value in form.getall("ticket", [])][:BULK_LIMIT]
    action, fields = str(form.get("action", "")), {k: str(v) for k, v in form.items() if k not in ("csrf", "ticket")}
    if action not in ("assign", "move") or not ids:
        raise BadRequest("choose tickets and 'assign' or 'move'", code="body_invalid")
    if fields.get("assignee") == "@me":
        fields["assignee"] = who.name
    outcomes = []
    for ticket_id in ids:
        try:
            ticket = await visible_ticket(request, who, ticket_id)
            if action == "assign":
                await apply_assign(request, who, ticket, _form_model(AssignRequest, fields, "assignee", "group"))
            else:
                await apply_transition(request, who, ticket, _form_model(TransitionRequest, fields, "to", "solution"))
            outcomes.append((ticket_id, True, "done"))
        except CollectorError as exc:
            outcomes.append((ticket_id, False, exc.message))
    if (outbox := request.app.get(OUTBOX)) is not None:
        outbox.wake()
    return render("desk_bulk.html", request, outcomes=outcomes, action=action)


@routes.get("/ui/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    """The outbox's delivery log (admins): what left, what is waiting for a retry, what failed and why."""
    who = await signed_in(request)
    if who.role is not Role.ADMIN:
        raise web.HTTPForbidden(text="the delivery log is for admins")
    ticket = request.query.get("ticket_id", "")
    ticket_id = int(ticket) if ticket.isdecimal() and len(ticket) < 19 else None
    state = JobState.FAILED if request.query.get("state") == JobState.FAILED.value else None
    jobs = await request.app[DB].run(delivery_log, ticket_id=ticket_id, state=state, limit=300)
    return render("desk_deliveries.html", request, jobs=jobs, ticket_id=ticket_id, gave_up=state is JobState.FAILED)


@routes.get("/ui/search")
async def search(request: web.Request) -> web.Response:
    """Full-text search over symptom, device, household, replies and notes (staff; partners: their tickets)."""
    who = await signed_in(request)
    words = request.query.get("q", "").strip()[:200]
    partner = who.name if who.role is Role.PARTNER else None
    hits = await request.app[DB].run(search_tickets, words, partner=partner) if words else []
    return render("desk_search.html", request, words=words, hits=hits)
