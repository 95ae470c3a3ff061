"""The ticket lifecycle: allowed transitions, follow-ups, classification from a diagnosis, routing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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
    RootCause.ROUTER_REBOOT: "network",
    RootCause.ROUTER_SCHEDULED_REBOOT: "human_error",
    RootCause.WAN_OUTAGE: "network",
    RootCause.DNS_FAILURE: "network",
    RootCause.HUB_LINK_DOWN: "network",
    RootCause.WIFI_WEAK_SIGNAL: "network",
    RootCause.DEVICE_OFFLINE: "hardware",
    RootCause.DEVICE_REBOOT: "hardware",
    RootCause.DEVICE_CRASH_LOOP: "software",
    RootCause.BROKER_DOWN: "software",
    RootCause.BROKER_REFUSED: "human_error",
    RootCause.HUB_REBOOT: "hardware",
    RootCause.HUB_POWER_LOSS: "hardware",
    RootCause.FIRMWARE_KNOWN_ISSUE: "software",
    RootCause.CLOCK_JUMP: "software",
    RootCause.HUB_DEGRADED: "hardware",
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


# How well a bundle supports its cause: a mid-outage click or an ``:ongoing`` capture is provisional (the cause as
# it looked so far), a customer's click is a diagnosis of the whole window, a closed fault's bundle the full story.
PROVISIONAL, SELF_DIAGNOSIS, CLOSED_FAULT = 0, 1, 2
# Causes that explain other ones: a crash loop explains a device's absences and restarts, a known firmware issue its
# crashes, a schedule the router's restarts. A device's absence or single restart explains least.
SPECIFICITY: dict[RootCause, int] = {
    RootCause.DEVICE_CRASH_LOOP: 2,
    RootCause.FIRMWARE_KNOWN_ISSUE: 2,
    RootCause.ROUTER_SCHEDULED_REBOOT: 2,
    RootCause.DEVICE_OFFLINE: 0,
    RootCause.DEVICE_REBOOT: 0,
}


def evidence_strength(trigger_kind: str, signature: str | None) -> list[int]:
    """[support, specificity] of a bundle's cause; compared as a pair, higher is stronger."""
    cause, _, phase = (signature or "").partition(":")
    support = PROVISIONAL if phase == "ongoing" else CLOSED_FAULT if trigger_kind == "fault" else SELF_DIAGNOSIS
    try:
        return [support, SPECIFICITY.get(RootCause(cause), 1)]
    except ValueError:
        return [support, 0]


def prefill_for(current: dict[str, Any] | None, trigger_kind: str, signature: str | None) -> dict[str, Any] | None:
    """The classification to record when a bundle joins a ticket whose last classification is ``current``, or
    None to leave it. A person's classification stays; a pre-filled one is replaced by better-supported evidence."""
    cause = (signature or "").partition(":")[0]
    classification = classification_from(cause)
    if classification is None:
        return None
    strength = evidence_strength(trigger_kind, signature)
    prefill = classification | {"strength": strength, "provisional": strength[0] == PROVISIONAL}
    if current is None:
        return prefill
    if current.get("source") != "diagnosis":
        return None
    held = current.get("strength") or [CLOSED_FAULT, _specificity(str(current.get("cause")))]
    if strength <= list(held):
        return None
    return prefill | {"replaces": current.get("cause")}


def _specificity(cause: str) -> int:
    try:
        return SPECIFICITY.get(RootCause(cause), 1)
    except ValueError:
        return 0


def classification_from(root_cause: str) -> dict[str, str] | None:
    try:
        cause = RootCause(root_cause)
    except ValueError:
        return None
    if cause is RootCause.HEALTHY:
        return None
    return {
        "type": FAULT_TYPE_OF[cause],
        "cause": cause.value,
        "impact": "function_lost"
        if cause
        in (
            RootCause.ROUTER_REBOOT,
            RootCause.ROUTER_SCHEDULED_REBOOT,
            RootCause.WAN_OUTAGE,
            RootCause.DEVICE_OFFLINE,
            RootCause.HUB_LINK_DOWN,
            RootCause.BROKER_DOWN,
        )
        else "degraded",
        "source": "diagnosis",
    }
