"""The customer portal: a household's tickets, the conversation with support (public replies only), adding
information, confirming the fix, rating the service and filing a complaint.

Every event shown passes ``support.events.customer_view`` (an allow-list) through ``visible_ticket``; internal
notes, staff remarks, assignments and SLA bookkeeping never reach these pages. Pages speak the household's
language and read times in its time zone (its contact record; without one, the browser's language and the organisation's zone).
Screenshots pass ``collector.images`` (type, size, metadata removed) before they are stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from ..api.bodies import NoteRequest
from ..api.common import parse_model
from ..api.support import (
    ComplaintRequest,
    FollowUpRequest,
    TransitionRequest,
    apply_follow_up,
    apply_transition,
    record,
)
from ..api.tickets import add_note_event, visible_ticket
from ..errors import BadRequest, NotFound, PayloadTooLarge
from ..images import MAX_IMAGE_BYTES, ImageRefused, checked_image
from ..models import Principal, Role, Ticket, TicketState
from ..notify.messages import MILESTONE_WORDS
from ..state import BLOBS, CLOCK, DB
from ..store import Store
from ..store.contacts import contact_of
from ..support.clocks import current_state, next_follow_up
from ..support.events import EventKind
from . import CSRF, checked_form, render, session_principal, staff_language
from .portal_text import PORTAL_TEXT, STATE_WORDS

routes = web.RouteTableDef()  # the customers' portal, added to the app by collector.app


async def customer(request: web.Request) -> Principal:
    """The signed-in customer; staff are sent to their own pages, strangers to the sign-in page."""
    who = await session_principal(request)
    if who.role is not Role.CUSTOMER:
        raise web.HTTPSeeOther("/ui/")
    if not who.household:
        raise web.HTTPForbidden(text="this customer account belongs to no household; support can fix that")
    return who


async def _page(request: web.Request, who: Principal, name: str, **context: Any) -> web.Response:
    """A portal page in the household's language and time zone (its contact record; without one, the browser's
    language and the organisation's zone)."""
    found = await request.app[DB].run(contact_of, who.household or "")
    language = found.language if found else staff_language(request)  # no record yet: the browser's preference
    return render(
        name,
        request,
        tz=found.timezone if found else None,
        t=PORTAL_TEXT[language],
        language=language,
        words=STATE_WORDS[language],
        milestones=MILESTONE_WORDS[language],
        **context,
    )


@routes.get("/portal/")
async def portal_home(request: web.Request) -> web.Response:
    who = await customer(request)
    tickets = await request.app[DB].run(Store.list_tickets, household=who.household)
    return await _page(request, who, "portal_home.html", tickets=tickets)


def _actions(ticket: Ticket) -> dict[str, Any]:
    state = current_state(ticket.events)
    return {
        "confirm": state == TicketState.AWAITING_CONFIRMATION,
        "rate": state in (TicketState.RESOLVED, TicketState.FOLLOW_UP) and next_follow_up(ticket.events) is not None,
    }


@routes.get("/portal/tickets/{ticket_id}")
async def portal_ticket(request: web.Request) -> web.Response:
    who = await customer(request)
    ticket = await visible_ticket(request, who)
    return await _page(request, who, "portal_ticket.html", ticket=ticket, actions=_actions(ticket))


@routes.get("/portal/tickets/{ticket_id}/rate")
async def rate_form(request: web.Request) -> web.Response:
    """The survey page the follow-up message links to."""
    who = await customer(request)
    ticket = await visible_ticket(request, who)
    return await _page(request, who, "portal_rate.html", ticket=ticket, actions=_actions(ticket))


async def _posted(request: web.Request) -> tuple[Principal, Ticket, dict[str, str]]:
    who = await customer(request)
    form = await checked_form(request)
    return who, await visible_ticket(request, who), form


def _back(ticket: Ticket, anchor: str = "") -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/portal/tickets/{ticket.id}{anchor}")


@routes.post("/portal/tickets/{ticket_id}/notes")
async def portal_note(request: web.Request) -> web.Response:
    who, ticket, form = await _posted(request)
    await add_note_event(request, who, ticket, parse_model(NoteRequest, {"text": form.get("text", "")}))
    raise _back(ticket, "#conversation")


@routes.post("/portal/tickets/{ticket_id}/confirm")
async def portal_confirm(request: web.Request) -> web.Response:
    who, ticket, form = await _posted(request)
    await apply_transition(
        request, who, ticket, TransitionRequest(to=TicketState.RESOLVED, note=form.get("text") or None)
    )
    raise _back(ticket)


@routes.post("/portal/tickets/{ticket_id}/rate")
async def portal_rate(request: web.Request) -> web.Response:
    who, ticket, form = await _posted(request)
    score = form.get("satisfaction", "")
    body = parse_model(
        FollowUpRequest,
        {
            "satisfaction": int(score) if score.isdecimal() else score,
            "recurred": form.get("recurred") == "yes",
            "comment": form.get("comment") or None,
        },
    )
    await apply_follow_up(request, who, ticket, body)
    raise _back(ticket, "#thanks")


@routes.post("/portal/tickets/{ticket_id}/complaints")
async def portal_complaint(request: web.Request) -> web.Response:
    who, ticket, form = await _posted(request)
    body = parse_model(ComplaintRequest, {"text": form.get("text", "")})
    await record(request, ticket, who, EventKind.COMPLAINT, {"text": body.text})
    raise _back(ticket, "#conversation")


@routes.post("/portal/tickets/{ticket_id}/images")
async def portal_image(request: web.Request) -> web.Response:
    """A screenshot for support: PNG or JPEG, checked and stripped of its metadata, stored like bundle bytes."""
    who = await customer(request)
    ticket = await visible_ticket(request, who)
    _, image = await form_with_image(request)
    if image is None:
        raise BadRequest("choose an image to add", code="body_invalid")
    await add_image(request, who, ticket, *image)
    raise _back(ticket, "#conversation")


async def _limited(part: BodyPartReader, limit: int, what: str) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"{what} is larger than {limit // 1024} KiB", code="form_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def form_with_image(request: web.Request) -> tuple[dict[str, str], tuple[bytes, str] | None]:
    """A multipart form's text fields and its ``image`` (bytes, file name), read in pieces — never more than the
    image limit in memory; the session's CSRF token must match."""
    if request.content_type != "multipart/form-data":  # a form without a file field may come url-encoded
        return await checked_form(request), None
    fields: dict[str, str] = {}
    image = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                raise BadRequest("unexpected form part", code="body_invalid")
            if part.name == "image" and part.filename:
                image = (await _limited(part, MAX_IMAGE_BYTES, "the image"), part.filename[:100])
            elif len(fields) < 50:
                fields[part.name] = (await _limited(part, 20_000, part.name)).decode(errors="replace")
    except (ValueError, HttpProcessingError) as exc:  # how aiohttp says a multipart body is malformed
        raise BadRequest(f"the form could not be read: {exc}", code="body_invalid") from exc
    if not secrets.compare_digest(fields.get("csrf", ""), request[CSRF]):
        raise web.HTTPForbidden(text="CSRF token missing or wrong")
    return fields, image if image and image[0] else None


async def add_image(request: web.Request, who: Principal, ticket: Ticket, data: bytes, name: str) -> None:
    """Check the image, strip its metadata, store it by its SHA-256 and record it on the ticket."""
    try:
        media_type, clean = checked_image(data)
    except ImageRefused as exc:
        raise BadRequest(str(exc), code="image_refused") from exc
    digest = hashlib.sha256(clean).hexdigest()
    blobs = request.app[BLOBS]
    await asyncio.to_thread(blobs.adopt, await asyncio.to_thread(blobs.stage, clean), digest)
    await request.app[DB].run(
        Store.append_ticket_event,
        ticket.id,
        who.name,
        EventKind.IMAGE,
        {"sha256": digest, "type": media_type, "size": len(clean), "name": name, "role": who.role.value},
        request.app[CLOCK](),
    )


async def ticket_image(request: web.Request, ticket: Ticket) -> web.Response:
    """One of the ticket's images (the caller has checked who may see the ticket)."""
    digest = request.match_info["sha256"]
    event = next((e for e in ticket.events if e.kind == EventKind.IMAGE and e.data.get("sha256") == digest), None)
    if event is None:
        raise NotFound("no such image on this ticket", code="not_found")
    data = await asyncio.to_thread(request.app[BLOBS].get, digest)
    return web.Response(
        body=data,
        content_type=event.data["type"],
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": "inline",
            "Cache-Control": "private, max-age=3600",
        },
    )


@routes.get("/portal/tickets/{ticket_id}/images/{sha256}")
async def portal_ticket_image(request: web.Request) -> web.Response:
    who = await customer(request)
    return await ticket_image(request, await visible_ticket(request, who))
