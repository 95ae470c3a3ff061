"""The vocabulary of a ticket's event log, and the one definition of what counts as a response.

Only communication the customer actually receives — a public reply, a progress update, a notification that
was sent — meets the first-response target and keeps the update cadence and the 72-hour rule green. State
changes (even into ``waiting_customer``), milestones and internal notes are recorded but say nothing to the
customer, so they never count. The live clocks, the SLA scanner and the monthly report all use
``is_customer_response``.
"""

from __future__ import annotations

from enum import StrEnum

from ..models import TicketEvent


class EventKind(StrEnum):
    CREATED = "created"
    BUNDLE_ATTACHED = "bundle_attached"
    CLASSIFIED = "classified"
    NOTE = "note"  # information added by the customer (staff notes before visibilities existed: internal)
    IMAGE = "image"  # a screenshot the customer added (metadata removed; bytes in the blob store)
    PUBLIC_REPLY = "public_reply"  # staff → customer, shown to the customer
    INTERNAL_NOTE = "internal_note"  # staff only; never shown to the customer, never a response
    UPDATE = "update"  # a progress notice to the customer (level, progress, expected time)
    NOTIFICATION_SENT = "notification_sent"  # a message that actually left for the customer
    TRANSITION = "transition"
    MILESTONE = "milestone"
    PRIORITY_CHANGED = "priority_changed"
    ASSIGNED = "assigned"
    FOLLOW_UP_SCHEDULED = "follow_up_scheduled"
    FOLLOW_UP = "follow_up"
    COMPLAINT = "complaint"
    COMPLAINT_MILESTONE = "complaint_milestone"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"


class Visibility(StrEnum):
    PUBLIC = "public"  # the customer sees it: a reply
    INTERNAL = "internal"  # staff only


RESPONSE_KINDS = frozenset({EventKind.PUBLIC_REPLY, EventKind.UPDATE, EventKind.NOTIFICATION_SENT})
# What a customer is ever shown (an allow-list: a kind added later stays staff-only until it is listed here).
CUSTOMER_KINDS = frozenset(
    {
        EventKind.CREATED,
        EventKind.NOTE,
        EventKind.IMAGE,
        EventKind.PUBLIC_REPLY,
        EventKind.UPDATE,
        EventKind.NOTIFICATION_SENT,
        EventKind.TRANSITION,
        EventKind.MILESTONE,
        EventKind.FOLLOW_UP,
        EventKind.FOLLOW_UP_SCHEDULED,
        EventKind.COMPLAINT,
        EventKind.COMPLAINT_MILESTONE,
        EventKind.BUNDLE_ATTACHED,
    }
)


def is_customer_response(event: TicketEvent) -> bool:
    return event.kind in RESPONSE_KINDS


def customer_view(event: TicketEvent) -> TicketEvent | None:
    """What a customer may see of an event, or None. Notes and images a customer did not add (staff notes from
    before visibilities existed, attachments staff filed) are internal; staff remarks on a state change are removed; an attached bundle is
    named, not described; complaint milestones show without the internal complaint report."""
    by_customer = event.data.get("role") == "customer"
    if event.kind not in CUSTOMER_KINDS or (event.kind in (EventKind.NOTE, EventKind.IMAGE) and not by_customer):
        return None
    if event.kind == EventKind.TRANSITION and event.data.get("note") and not by_customer:
        return event.model_copy(update={"data": {**event.data, "note": None}})
    if event.kind == EventKind.BUNDLE_ATTACHED:
        return event.model_copy(update={"data": {"bundle_id": event.data.get("bundle_id")}})
    if event.kind == EventKind.COMPLAINT_MILESTONE:
        return event.model_copy(update={"data": {k: v for k, v in event.data.items() if k != "report"}})
    return event
