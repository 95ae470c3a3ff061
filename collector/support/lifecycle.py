"""The ticket lifecycle: allowed transitions, follow-ups, classification from a diagnosis, routing."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.models import Priority, RootCause

from ..errors import Conflict
from ..models import TicketState
from .policy import POLICIES

S = TicketState
ACTIVE = {S.TRIAGED, S.DIAGNOSING, S.SOLUTION, S.AWAITING_CONFIRMATION}
TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    S.NEW: frozenset({S.TRIAGED, S.DIAGNOSING, S.WAITING_CUSTOMER, S.CLOSED}),
    S.TRIAGED: frozenset({S.DIAGNOSING, S.WAITING_CUSTOMER, S.CLOSED}),
    S.DIAGNOSING: frozenset({S.SOLUTION, S.WAITING_CUSTOMER, S.WAITING_PARTS, S.RESOLVED}),
    S.SOLUTION: frozenset({S.AWAITING_CONFIRMATION, S.DIAGNOSING, S.WAITING_PARTS, S.RESOLVED}),
    S.AWAITING_CONFIRMATION: frozenset({S.RESOLVED, S.DIAGNOSING}),
    S.WAITING_CUSTOMER: frozenset(ACTIVE),
    S.WAITING_PARTS: frozenset(ACTIVE),
    S.RESOLVED: frozenset({S.FOLLOW_UP, S.DIAGNOSING, S.CLOSED}),
    S.FOLLOW_UP: frozenset({S.CLOSED, S.DIAGNOSING}),
    S.CLOSED: frozenset({S.DIAGNOSING}),
}
SOLUTION_KINDS = frozenset({"remote", "upgrade", "configuration", "on_site"})
MILESTONES = frozenset({"root_cause_found", "solution_approved", "in_progress", "workaround", "fixed"})
FAULT_TYPES = frozenset({"software", "hardware", "network", "human_error"})

# What a diagnosis's root cause says about the fault type (pre-fills the classification).
FAULT_TYPE_OF: dict[RootCause, str] = {
    RootCause.ROUTER_REBOOT: "network", RootCause.ROUTER_SCHEDULED_REBOOT: "human_error", RootCause.WAN_OUTAGE: "network",
    RootCause.DNS_FAILURE: "network", RootCause.HUB_LINK_DOWN: "network", RootCause.WIFI_WEAK_SIGNAL: "network",
    RootCause.DEVICE_OFFLINE: "hardware", RootCause.DEVICE_REBOOT: "hardware", RootCause.DEVICE_CRASH_LOOP: "software",
    RootCause.BROKER_DOWN: "software", RootCause.BROKER_REFUSED: "human_error", RootCause.HUB_REBOOT: "hardware", RootCause.HUB_POWER_LOSS: "hardware",
    RootCause.FIRMWARE_KNOWN_ISSUE: "software", RootCause.CLOCK_JUMP: "software", RootCause.HUB_DEGRADED: "hardware",
}


def check_transition(current: TicketState, target: TicketState) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise Conflict(f"a {current} ticket cannot move to {target} (allowed: {allowed})", code="transition_invalid")


def follow_up_dates(priority: Priority, resolved_at: datetime) -> list[datetime]:
    return [resolved_at + timedelta(days=days) for days in POLICIES[priority].follow_up_days]


def route(priority: Priority) -> str:
    """The group a new ticket goes to: P1 to the emergency group, the rest to first-line support."""
    return "emergency" if priority is Priority.P1 else "support"


def classification_from(root_cause: str) -> dict[str, str] | None:
    try:
        cause = RootCause(root_cause)
    except ValueError:
        return None
    if cause is RootCause.HEALTHY:
        return None
    return {"type": FAULT_TYPE_OF[cause], "cause": cause.value, "impact": "function_lost" if cause in (
        RootCause.ROUTER_REBOOT, RootCause.ROUTER_SCHEDULED_REBOOT, RootCause.WAN_OUTAGE, RootCause.DEVICE_OFFLINE,
        RootCause.HUB_LINK_DOWN, RootCause.BROKER_DOWN) else "degraded", "source": "diagnosis"}
