"""Tickets: intake, listing, the ticket with its bundles and its event history, notes."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from aiohttp import web

from shared.models import Priority
from shared.redact import Redactor, redact_customer_text

from ..auth import check_household, household_filter, may_see_ticket, principal, require_role
from ..errors import BadRequest, NotFound
from ..models import Principal, Role, Ticket, TicketEvent, TicketIntake, TicketState
from ..state import CLOCK, CONFIG, DB
from ..store import Store
from ..store.contacts import Contact, set_contact
from ..support.events import EventKind, Visibility, customer_view
from .bodies import AttachRequest, NoteRequest
from .common import int_param, json_body, model_json, parse_model
from .notify import ContactRequest

routes = web.RouteTableDef()


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {**ticket.model_dump(mode="json"), "household": ticket.household}


async def visible_ticket(request: web.Request, who: Principal, ticket_id: int | None = None) -> Ticket:
    """The ticket of the URL (or ``ticket_id``) if ``who`` may see it; 404 otherwise, exactly like a missing one."""
    wanted = int_param(request, "ticket_id") if ticket_id is None else ticket_id
    ticket = await request.app[DB].run(Store.get_ticket, wanted)
    if ticket is None or not may_see_ticket(who, ticket.household, ticket.partner):
        raise NotFound("no such ticket", code="ticket_not_found")
    return shown_to(who, ticket)


def shown_to(who: Principal, ticket: Ticket) -> Ticket:
    """A customer's copy of a ticket: public events only, no internal routing (group, partner)."""
    if who.role is not Role.CUSTOMER:
        return ticket
    shown = [seen for seen in map(customer_view, ticket.events) if seen is not None]
    return ticket.model_copy(update={"events": shown, "group": None, "partner": None})


# What the customer (or the hotline, in the customer's words) typed into the intake template.
CUSTOMER_TEXT_FIELDS = ("device", "symptom", "when", "firmware", "environment", "impact")


async def _customer_redactor(request: web.Request, household: str) -> Redactor:
    key = await request.app[DB].run(Store.household_pseudonym_key, household, request.app[CLOCK]())
    return Redactor(base64.b64decode(key))


@routes.post("/api/v1/tickets")
async def create_ticket(request: web.Request) -> web.Response:
    who = await principal(request)
    ticket = await open_ticket(request, who, await json_body(request))
    return web.json_response(ticket_json(ticket), status=201)


async def open_ticket(
    request: web.Request, who: Principal, body: dict[str, Any], contact: ContactRequest | None = None
) -> Ticket:
    """A new ticket from the intake template; customers open tickets for their own household only. A contact
    given with it is the household's from then on."""
    if who.role is Role.CUSTOMER:
        body.setdefault("household", who.household)
        body.setdefault("channel", "app")
    intake = parse_model(TicketIntake, body)
    check_household(who, intake.household)
    if who.role is Role.PARTNER:
        raise BadRequest("partners work on assigned tickets; they do not open them", code="role_forbidden")
    cfg = request.app[CONFIG].tickets
    if cfg.redact_customer_text:
        redactor = await _customer_redactor(request, intake.household)
        intake = intake.model_copy(
            update={
                field: redact_customer_text(value, redactor)
                for field in CUSTOMER_TEXT_FIELDS
                if isinstance(value := getattr(intake, field), str)
            }
        )
    if contact is not None and (contact.email or contact.timezone):
        # Before the ticket: the outbox plans the "received" message from the ticket's first event, and a
        # contact saved after it could come too late for that plan (the customer would never hear of it).
        await request.app[DB].run(
            set_contact,
            Contact(intake.household, contact.email, contact.language, contact.timezone),
            request.app[CLOCK](),
        )
    return await request.app[DB].run(
        Store.create_ticket,
        intake,
        who.name,
        slack=timedelta(seconds=cfg.attach_slack_s),
        lookback=timedelta(seconds=cfg.attach_lookback_s),
        now=request.app[CLOCK](),
    )


def _enum_query(request: web.Request, name: str, enum: type[Any]) -> Any:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return enum(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be one of {[member.value for member in enum]}", code="bad_request") from exc


@routes.get("/api/v1/tickets")
async def list_tickets(request: web.Request) -> web.Response:
    who = await principal(request)
    partner = who.name if who.role is Role.PARTNER else None
    household = None if partner else household_filter(who) or request.query.get("household")
    tickets = await request.app[DB].run(
        Store.list_tickets,
        household=household,
        state=_enum_query(request, "state", TicketState),
        priority=_enum_query(request, "priority", Priority),
        partner=partner,
    )
    return web.json_response({"tickets": [ticket_json(shown_to(who, ticket)) for ticket in tickets]})


@routes.get("/api/v1/tickets/{ticket_id}")
async def show_ticket(request: web.Request) -> web.Response:
    """The ticket; staff also see ``offered_bundles``: the household's bundles that fitted no ticket."""
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    shown = ticket_json(ticket)
    if who.role in (Role.ENGINEER, Role.ADMIN):
        waiting = await request.app[DB].run(Store.list_bundles, ticket.household, unattached=True)
        shown["offered_bundles"] = [bundle.model_dump(mode="json") for bundle in waiting]
    return web.json_response(shown)


@routes.post("/api/v1/tickets/{ticket_id}/bundles")
async def attach_bundle(request: web.Request) -> web.Response:
    """Attach an offered bundle, or move one from another ticket of the household, by hand (audited)."""
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    require_role(who, Role.ENGINEER, Role.ADMIN)
    body = parse_model(AttachRequest, await json_body(request))
    moved = await request.app[DB].run(
        Store.move_bundle, body.bundle_id, ticket.id, who.name, body.reason, request.app[CLOCK]()
    )
    return model_json(moved, status=201)


@routes.post("/api/v1/tickets/{ticket_id}/notes")
async def add_note(request: web.Request) -> web.Response:
    """Information from the customer (``note``), or from staff either a ``public_reply`` the customer sees — a
    response for the service levels — or an ``internal_note`` (the default) that staff alone see."""
    who = await principal(request)
    ticket = await visible_ticket(request, who)
    note = parse_model(NoteRequest, await json_body(request))
    return model_json(await add_note_event(request, who, ticket, note), status=201)


async def add_note_event(request: web.Request, who: Principal, ticket: Ticket, note: NoteRequest) -> TicketEvent:
    if who.role is Role.CUSTOMER:
        if note.visibility is Visibility.INTERNAL:
            raise BadRequest("customers' notes are always visible to support", code="body_invalid")
        kind = EventKind.NOTE
        if request.app[CONFIG].tickets.redact_customer_text:
            redactor = await _customer_redactor(request, ticket.household)
            note = note.model_copy(update={"text": redact_customer_text(note.text, redactor)})
    else:
        kind = EventKind.PUBLIC_REPLY if note.visibility is Visibility.PUBLIC else EventKind.INTERNAL_NOTE
    return await request.app[DB].run(
        Store.append_ticket_event,
        ticket.id,
        who.name,
        kind,
        {"text": note.text, "role": who.role.value},
        request.app[CLOCK](),
    )
