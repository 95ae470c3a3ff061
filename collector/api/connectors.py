"""Helpdesk connectors over HTTP: each helpdesk's inbound webhook, and signed download links for bundles too large
to attach to a helpdesk note (collector.connectors)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp import web

from shared.models import Priority

from ..connectors.downloads import link_valid
from ..connectors.inbound import MAX_BODY_BYTES, InboundEvent, check_signature, parse_event
from ..errors import Conflict, Forbidden, NotFound, PayloadTooLarge
from ..models import Principal, Role, Ticket, TicketIntake, TicketState
from ..state import BLOBS, CLOCK, CONFIG, DB
from ..store import SqliteStore
from ..store import connectors as links
from ..support.clocks import current_state
from .support import TransitionRequest, apply_transition

routes = web.RouteTableDef()

# The shortest way from each state to resolved, for a ticket solved in the helpdesk.
_TOWARDS_RESOLVED: dict[TicketState, tuple[TicketState, ...]] = {
    TicketState.NEW: (TicketState.DIAGNOSING, TicketState.RESOLVED),
    TicketState.TRIAGED: (TicketState.DIAGNOSING, TicketState.RESOLVED),
    TicketState.WAITING_CUSTOMER: (TicketState.DIAGNOSING, TicketState.RESOLVED),
    TicketState.WAITING_PARTS: (TicketState.DIAGNOSING, TicketState.RESOLVED),
    TicketState.DIAGNOSING: (TicketState.RESOLVED,),
    TicketState.SOLUTION: (TicketState.RESOLVED,),
    TicketState.AWAITING_CONFIRMATION: (TicketState.RESOLVED,),
}


def _intake(helpdesk: str, event: InboundEvent) -> TicketIntake:
    assert event.household is not None
    return TicketIntake(
        household=event.household,
        device=f"see {helpdesk} ticket {event.remote_id}",
        symptom=event.subject or f"opened in {helpdesk} (ticket {event.remote_id})",
        when="see the helpdesk ticket",
        priority=Priority.P3,
        channel=helpdesk[:50],
    )


async def _resolve(request: web.Request, helpdesk: str, event: InboundEvent, ticket: Ticket) -> list[str]:
    """Walk our ticket to resolved; a ticket already resolved or closed stays as it is."""
    actor = Principal(user_id=0, name=f"helpdesk:{helpdesk}", role=Role.ENGINEER)
    moved = []
    for target in _TOWARDS_RESOLVED.get(TicketState(current_state(ticket.events)), ()):
        note = f"solved in {helpdesk} (ticket {event.remote_id})"
        try:
            await apply_transition(request, actor, ticket, TransitionRequest(to=target, note=note))
        except Conflict:
            break  # someone moved it meanwhile: their move stands
        moved.append(target.value)
        updated = await request.app[DB].run(SqliteStore.get_ticket, ticket.id)
        assert updated is not None  # tickets are never deleted
        ticket = updated
    return moved


@routes.post("/api/v1/connectors/{helpdesk}/events")
async def helpdesk_event(request: web.Request) -> web.Response:
    """A helpdesk's webhook: a ticket opened there for a household is linked to ours (which takes the household's
    fitting bundles), a ticket solved there moves ours to resolved. Authenticated by the helpdesk's signature."""
    config = request.app[CONFIG]
    helpdesk = config.connectors.helpdesk(request.match_info["helpdesk"])
    if helpdesk is None:
        raise NotFound("no such helpdesk", code="helpdesk_not_found")
    body = await request.read()  # the app's client_max_size bounds it; events are far smaller
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge("the event is too large", code="body_too_large")
    now = request.app[CLOCK]()
    check_signature(helpdesk, config.connectors, request.headers, body, now)
    event = parse_event(helpdesk, body)
    db = request.app[DB]
    ticket_id = await db.run(links.ticket_of_remote, helpdesk.name, event.remote_id)
    opened = False
    if ticket_id is None and event.ticket_id is not None:
        # A ticket we opened (its field holds our id), announced before our sender recorded the link: ours to record.
        known = await db.run(SqliteStore.get_ticket, event.ticket_id)
        ticket_id = known.id if known is not None else None
    elif ticket_id is None and event.household is not None:
        ticket, opened = await db.run(
            links.link_remote_ticket,
            helpdesk.name,
            event.remote_id,
            _intake(helpdesk.name, event),
            slack=timedelta(seconds=config.tickets.attach_slack_s),
            lookback=timedelta(seconds=config.tickets.attach_lookback_s),
            now=now,
        )
        ticket_id = ticket.id
    if ticket_id is None:
        return web.json_response({"ticket_id": None, "linked": False, "opened": False, "moved": []})
    linked = await db.run(links.link_of, helpdesk.name, ticket_id) is not None
    moved: list[str] = []
    if event.solved:
        current = await db.run(SqliteStore.get_ticket, ticket_id)
        moved = await _resolve(request, helpdesk.name, event, current)  # type: ignore[arg-type]
    await db.run(
        SqliteStore.audit,
        f"helpdesk:{helpdesk.name}",
        "helpdesk.event",
        str(ticket_id),
        {"remote_id": event.remote_id, "opened": opened, "moved": moved},
        now,
    )
    return web.json_response({"ticket_id": ticket_id, "linked": linked, "opened": opened, "moved": moved})


@routes.get("/api/v1/connectors/downloads/{bundle_id}")
async def signed_download(request: web.Request) -> web.Response:
    """A bundle through a signed, expiring link from a helpdesk note (no account needed: the link is the right)."""
    bundle_id = request.match_info["bundle_id"]
    key = await request.app[DB].run(links.download_key)
    now = request.app[CLOCK]()
    if not link_valid(key, bundle_id, request.query.get("expires", ""), request.query.get("signature", ""), now):
        raise Forbidden("the download link is invalid or has expired", code="link_invalid")
    record = await request.app[DB].run(SqliteStore.get_bundle, bundle_id)
    if record is None:
        raise NotFound("no such bundle", code="bundle_not_found")
    data = await asyncio.to_thread(request.app[BLOBS].get, record.sha256)
    await request.app[DB].run(
        SqliteStore.audit, "download-link", "bundle.read", record.bundle_id, {"ticket_id": record.ticket_id}, now
    )
    return web.Response(
        body=data,
        content_type="application/vnd.homediag.bundle+gzip",
        headers={"Content-Disposition": f'attachment; filename="{record.bundle_id}.tar.gz"'},
    )
