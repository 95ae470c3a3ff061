"""From a ticket event to outbox jobs: which customer message (if any) and which webhook deliveries.

``plan_jobs`` is pure: the ticket as it was when the event was written, the event, the household's contact and
the configuration in; job specifications out. Every key is ``<event id>:<channel>:<target>`` — one job per event
and destination, whatever happens to the process.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..config import CollectorConfig
from ..connectors.plan import plan_helpdesk_jobs
from ..models import Ticket, TicketEvent
from ..store.contacts import Contact, Language, contact_of
from ..store.outbox import JobSpec, Planner
from ..support.events import EventKind, customer_view
from ..support.levels import ticket_clocks
from ..support.policy import SILENCE_LIMIT
from .messages import MILESTONE_WORDS, MessageKind, render_message

EMAIL, WEBHOOK = "email", "webhook"
_EXPECTED_TARGETS = ("workaround", "fix", "root_cause")


def message_kind(event: TicketEvent) -> MessageKind | None:
    """The customer message an event calls for, if any."""
    match event.kind:
        case EventKind.CREATED:
            return MessageKind.RECEIVED
        case EventKind.MILESTONE:
            return MessageKind.MILESTONE
        case EventKind.PUBLIC_REPLY:
            return MessageKind.REPLY
        case EventKind.UPDATE:
            return MessageKind.UPDATE
        case EventKind.TRANSITION if event.data.get("to") == "resolved":
            return MessageKind.RESOLVED
        case EventKind.FOLLOW_UP_SCHEDULED:
            return MessageKind.SURVEY
        case EventKind.COMPLAINT:
            return MessageKind.COMPLAINT_ACK
        case EventKind.SLA_WARNING if event.data.get("target") == SILENCE_LIMIT.name:
            return MessageKind.STILL_WORKING
    return None


def _local(moment: datetime | str | None, zone: str) -> str:
    if moment is None:
        return ""
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    local = value.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _context(
    config: CollectorConfig, ticket: Ticket, event: TicketEvent, zone: str, language: Language
) -> dict[str, Any]:
    link = f"{config.notify.public_url.rstrip('/')}/portal/tickets/{ticket.id}"
    report = event.data.get("report") or {}
    expected = None
    if event.kind == EventKind.CREATED:
        open_clocks = {c.target: c.due for c in ticket_clocks(config.support, ticket, event.ts) if not c.final}
        expected = next((open_clocks[t] for t in _EXPECTED_TARGETS if t in open_clocks), None)
    return {
        "ticket_id": ticket.id,
        "device": ticket.intake.device,
        "priority": ticket.priority.value,
        "expected": _local(expected or event.data.get("expected_by") or event.data.get("due"), zone),
        "milestone": MILESTONE_WORDS[language].get(event.data.get("name", ""), event.data.get("name", "")),
        "text": event.data.get("text") or "",
        "root_cause": report.get("root_cause"),
        "solution": report.get("solution"),
        "advice": report.get("advice"),
        "link": link,
        "rate_link": f"{link}/rate",
    }


def webhook_body(ticket: Ticket, event: TicketEvent, include_internal: bool) -> str | None:
    """The JSON a webhook endpoint receives for an event; None when the endpoint may not see it."""
    shown = event if include_internal else customer_view(event)
    if shown is None:
        return None
    ticket_part: dict[str, Any] = {"id": ticket.id, "priority": ticket.priority.value, "device": ticket.intake.device}
    if include_internal:
        ticket_part |= {"household": ticket.household, "group": ticket.group, "partner": ticket.partner}
    return json.dumps({"event": shown.model_dump(mode="json"), "ticket": ticket_part}, sort_keys=True)


def plan_jobs(config: CollectorConfig, contact: Contact | None, ticket: Ticket, event: TicketEvent) -> list[JobSpec]:
    jobs: list[JobSpec] = []
    kind = message_kind(event)
    if kind is not None and config.notify.email is not None and contact is not None and contact.email:
        zone = contact.timezone or config.support.timezone
        subject, body, html = render_message(
            kind, contact.language, _context(config, ticket, event, zone, contact.language)
        )
        not_before = datetime.fromisoformat(event.data["due"]) if kind is MessageKind.SURVEY else None
        jobs.append(
            JobSpec(
                f"{event.id}:{EMAIL}:{contact.email}",
                EMAIL,
                contact.email,
                {
                    "to": contact.email,
                    "subject": subject,
                    "body": body,
                    "html": html,
                    "message": kind.value,
                    "language": contact.language.value,
                },
                not_before,
            )
        )
    for endpoint in config.notify.webhooks:
        body_json = webhook_body(ticket, event, endpoint.include_internal)
        if body_json is not None:
            jobs.append(JobSpec(f"{event.id}:{WEBHOOK}:{endpoint.name}", WEBHOOK, endpoint.name, {"body": body_json}))
    return jobs


def planner(config: CollectorConfig) -> Planner:
    return lambda store, ticket, event: (
        plan_jobs(config, contact_of(store, ticket.household), ticket, event)
        + plan_helpdesk_jobs(config, store, ticket, event)
    )
