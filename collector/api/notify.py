"""Notifications over HTTP: a household's contact record (where messages go, language, time zone) and the
outbox's delivery log."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import available_timezones

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..auth import STAFF, principal, require_role
from ..models import Role
from ..state import CLOCK, DB
from ..store.contacts import Contact, Language, contact_of, set_contact
from ..store.outbox import JobState, delivery_log
from .common import json_body, parse_model

routes = web.RouteTableDef()
ZONES = sorted(available_timezones())


class ContactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The same pattern for JSON Schema's regex dialect and Python's: no '@' or whitespace on either side of one '@'.
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@ \t\r\n]+@[^@ \t\r\n]+$")
    language: Language = Language.EN
    timezone: Annotated[str, Field(json_schema_extra={"enum": ZONES})] | None = Field(
        default=None, description="IANA name, e.g. Asia/Shanghai"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None and zone not in ZONES:
            raise ValueError(f"unknown time zone {zone!r}")
        return zone


@routes.put("/api/v1/households/{household}/contact")
async def put_contact(request: web.Request) -> web.Response:
    who = await principal(request)
    require_role(who, *STAFF)
    body = parse_model(ContactRequest, await json_body(request))
    household = request.match_info["household"][:100]
    await request.app[DB].run(
        set_contact, Contact(household, body.email, body.language, body.timezone), request.app[CLOCK]()
    )
    found = await request.app[DB].run(contact_of, household)
    return web.json_response(
        {
            "household": household,
            "email": found.email if found else None,
            "language": body.language.value,
            "timezone": body.timezone,
        }
    )


@routes.get("/api/v1/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    """The outbox's delivery log, newest first (admins): every job, its state and each attempt."""
    who = await principal(request)
    require_role(who, Role.ADMIN)
    ticket = request.query.get("ticket_id", "")
    state = JobState(request.query["state"]) if "state" in request.query else None  # the document checked it
    entries = await request.app[DB].run(
        delivery_log, ticket_id=int(ticket) if ticket.isdecimal() else None, state=state
    )
    return web.json_response({"deliveries": entries})
