"""Which service levels and business calendar a ticket runs on: the configured policies, in order, like
Zendesk's ordered SLA policies — the first whose conditions all hold applies, otherwise the default table.

Conditions read only what a ticket had when it was opened (intake channel, device, household, and the group it
was routed to), so a later assignment never re-plans outcomes already met or missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..config import PolicyConditions, SupportConfig
from ..models import Ticket
from .calendar import BusinessCalendar
from .clocks import Clock, clocks
from .policy import POLICIES, ServiceLevels, with_targets

DEFAULT_POLICY = "default"


@dataclass(frozen=True)
class TicketService:
    policy: str  # the applied policy's name
    levels: ServiceLevels
    calendar: BusinessCalendar


def opening_group(ticket: Ticket) -> str | None:
    created = next((e for e in ticket.events if e.kind == "created"), None)
    return (created.data.get("group") if created else None) or ticket.group


def _holds(conditions: PolicyConditions, ticket: Ticket, group: str | None) -> bool:
    intake = ticket.intake
    device = intake.device.lower()
    return (
        (not conditions.channels or intake.channel in conditions.channels)
        and (not conditions.devices or any(part.lower() in device for part in conditions.devices))
        and (not conditions.households or intake.household in conditions.households)
        and (not conditions.groups or group in conditions.groups)
    )


def service_for(support: SupportConfig, ticket: Ticket) -> TicketService:
    group = opening_group(ticket)
    calendar = support.calendar(group)
    for policy in support.policies:
        if _holds(policy.conditions, ticket, group):
            return TicketService(policy.name, with_targets(policy.targets), calendar)
    return TicketService(DEFAULT_POLICY, POLICIES, calendar)


def ticket_clocks(support: SupportConfig, ticket: Ticket, now: datetime) -> list[Clock]:
    """A ticket's clocks under the service levels and calendar that apply to it (API, scanner and reports)."""
    service = service_for(support, ticket)
    return clocks(ticket.events, ticket.intake.priority, now, service.calendar, service.levels)
