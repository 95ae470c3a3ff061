"""Request and answer bodies of the API that are not stored records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.live import LiveGrant

from ..models import AgentRecord, BundleRecord, Ticket
from ..support.events import Visibility


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnrolRequest(_Body):
    token: str = Field(min_length=1, max_length=200)
    # The pattern is documented; the handler enforces it (400 public_key_invalid, a more useful code).
    public_key: str = Field(
        min_length=1,
        max_length=200,
        description="base64 of the raw 32-byte Ed25519 public key",
        json_schema_extra={"pattern": "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"},
    )
    hostname: str = Field(min_length=1, max_length=253)


class EnrolAnswer(_Body):
    agent_id: str
    household: str
    pseudonym_key: str = Field(description="base64, 32 bytes: the household's key for consistent pseudonyms")
    live: LiveGrant | None = Field(default=None, description="support-broker credentials when live state is on")


class LiveAnswer(_Body):
    """What a live request returned: the agent's answer as it sent it."""

    agent_id: str
    method: str
    result: Any = None
    elapsed_ms: float


class PresenceAnswer(_Body):
    agent_id: str
    online: bool | None = Field(description="null = never seen on the support broker")
    since: datetime | None = None


class AgentWithPresence(AgentRecord):
    """An agent in the listing, with whether it is on the support broker now."""

    presence: PresenceAnswer


class TicketView(Ticket):
    """One ticket as ``GET /tickets/{id}`` shows it: staff also get the household's bundles that fitted no ticket."""

    offered_bundles: list[BundleRecord] | None = Field(
        default=None, description="engineers and admins only: the household's bundles waiting unattached"
    )


class NoteRequest(_Body):
    text: str = Field(min_length=1, max_length=10_000)
    visibility: Visibility | None = Field(
        default=None,
        description="staff: 'public' (a reply the customer sees; counts as a response) or 'internal' "
        "(default; staff only). Customers' notes are always public.",
    )


class AttachRequest(_Body):
    bundle_id: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=1000, description="why the bundle belongs here (audited)")


class ErrorDetail(_Body):
    code: str = Field(description="stable, machine-readable")
    message: str


class ErrorBody(_Body):
    error: ErrorDetail
