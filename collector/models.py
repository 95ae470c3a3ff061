"""The collector's own records: what the store keeps and the API returns.

Plain pydantic models; the store maps rows to them and the API serialises them with ``model_dump(mode="json")``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field

from shared.models import CaptureWindow, Priority, Trigger


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(StrEnum):
    CUSTOMER = "customer"  # bound to one household
    ENGINEER = "engineer"
    PARTNER = "partner"  # sees only tickets assigned to it
    ADMIN = "admin"


class Principal(_Record):
    """Who is asking: an API user resolved from a bearer token."""

    user_id: int
    name: str
    role: Role
    household: str | None = None


class UserRecord(_Record):
    id: int
    name: str
    role: Role
    household: str | None
    created_at: datetime


class AgentRecord(_Record):
    agent_id: str
    household: str
    hostname: str
    public_key: str
    key_id: str
    enrolled_at: datetime
    revoked_at: datetime | None = None


class BundleRecord(_Record):
    bundle_id: str
    agent_id: str
    household: str
    sha256: str
    size: int
    created_at: datetime
    received_at: datetime
    trigger: Trigger
    window: CaptureWindow
    verified: bool = Field(
        default=True, description="stored bundles always passed DSSE and hash verification on arrival"
    )
    key_id: str
    ticket_id: int | None = None
    duplicate_of: str | None = Field(
        default=None,
        description="an earlier bundle of the same agent, trigger signature "
        "and capture window: the same fault sent twice, shown once on the ticket",
    )


class TicketState(StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    DIAGNOSING = "diagnosing"
    SOLUTION = "solution"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    RESOLVED = "resolved"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"
    WAITING_CUSTOMER = "waiting_customer"  # pauses the service-level clocks
    WAITING_PARTS = "waiting_parts"  # pauses the service-level clocks


OPEN_STATES = frozenset(TicketState) - {TicketState.CLOSED}


class TicketIntake(_Record):
    """The intake template of the support process."""

    household: str
    customer: str | None = Field(default=None, max_length=200, description="who reported it (name, phone)")
    device: str = Field(min_length=1, max_length=200)
    symptom: str = Field(min_length=1, max_length=4000)
    when: str = Field(min_length=1, max_length=500, description="when it happens, in the reporter's words")
    priority: Priority
    occurred_from: AwareDatetime | None = Field(default=None, description="earliest time the fault was seen, if known")
    occurred_to: AwareDatetime | None = None
    firmware: str | None = Field(default=None, max_length=200)
    environment: str | None = Field(default=None, max_length=2000, description="network, router…")
    impact: str | None = Field(default=None, max_length=2000, description="how many devices/users are affected")
    channel: str = Field(default="api", max_length=50, description="hotline, chat, app, e-mail, self-diagnosis…")


class TicketEvent(_Record):
    id: int
    ticket_id: int
    ts: datetime
    actor: str
    kind: str
    data: dict[str, Any] = Field(default_factory=dict)


class Ticket(_Record):
    id: int
    intake: TicketIntake
    state: TicketState
    priority: Priority
    created_at: datetime
    created_by: str
    group: str | None = None
    partner: str | None = Field(default=None, description="the third-party partner the ticket is assigned to")
    bundles: list[BundleRecord] = Field(default_factory=list)
    events: list[TicketEvent] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def household(self) -> str:
        return self.intake.household
