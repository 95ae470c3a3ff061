"""From a ticket event to helpdesk jobs on the outbox's ``helpdesk`` channel (one target per helpdesk).

Keys name what is sent, not the event that caused it, so nothing reaches a helpdesk ticket twice: a bundle is
``bundle:<helpdesk>:<ticket>:<bundle id>`` whether its attach event or a later link planned it. A helpdesk gets
jobs for a ticket that is linked to it, or for every ticket when it is configured to have tickets opened there.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from ..config import CollectorConfig, HelpdeskConfig
from ..models import Ticket, TicketEvent
from ..store import connectors as links
from ..store.access import StoreAccess
from ..store.contacts import Language, contact_of
from ..store.outbox import JobSpec
from ..support.events import EventKind
from .render import event_note_text, subject

HELPDESK = "helpdesk"


class Action(StrEnum):
    OPEN = "open"  # open the helpdesk ticket (or find the one opened before a crash) and link it
    BUNDLE = "bundle"  # an internal note with the diagnosis and the signed bundle (or a download link)
    NOTE = "note"  # an internal note: SLA warning or breach, milestone
    FIELD = "field"  # write our ticket id into a ticket opened in the helpdesk


def _job(helpdesk: HelpdeskConfig, key: str, action: Action, language: Language, **payload: Any) -> JobSpec:
    return JobSpec(
        f"{action.value}:{helpdesk.name}:{key}",
        HELPDESK,
        helpdesk.name,
        {"action": action.value, "language": language.value, **payload},
    )


def _bundle_job(helpdesk: HelpdeskConfig, ticket: Ticket, bundle_id: str, language: Language) -> JobSpec:
    """Keyed by the bundle, whichever event planned it: a bundle reaches a helpdesk ticket once."""
    return _job(helpdesk, f"{ticket.id}:{bundle_id}", Action.BUNDLE, language, bundle_id=bundle_id)


def plan_helpdesk_jobs(
    config: CollectorConfig, store: StoreAccess, ticket: Ticket, event: TicketEvent
) -> list[JobSpec]:
    if not config.connectors.helpdesks:
        return []
    contact = contact_of(store, ticket.household)
    language = contact.language if contact is not None else Language.EN
    jobs: list[JobSpec] = []
    for helpdesk in config.connectors.helpdesks:
        link = links.link_of(store, helpdesk.name, ticket.id)
        if link is None and not helpdesk.create_tickets:
            continue
        match event.kind:
            case EventKind.CREATED if link is None:
                jobs.append(_job(helpdesk, str(ticket.id), Action.OPEN, language))
            case EventKind.BUNDLE_ATTACHED if event.data.get("bundle_id"):
                jobs.append(_bundle_job(helpdesk, ticket, str(event.data["bundle_id"]), language))
            case links.HELPDESK_LINKED if event.data.get("helpdesk") == helpdesk.name:
                # Linked to a ticket that already holds evidence: all of it goes, each bundle once.
                jobs += [_bundle_job(helpdesk, ticket, b.bundle_id, language) for b in ticket.bundles]
                if event.data.get("origin") == links.LinkOrigin.HELPDESK.value:
                    jobs.append(_job(helpdesk, str(ticket.id), Action.FIELD, language))
            case EventKind.SLA_WARNING | EventKind.SLA_BREACHED | EventKind.MILESTONE:
                text = event_note_text(event, language)
                if text is not None:
                    jobs.append(
                        _job(
                            helpdesk,
                            f"{ticket.id}:{event.id}",
                            Action.NOTE,
                            language,
                            subject=subject(ticket, language),
                            text=text,
                        )
                    )
    return jobs
