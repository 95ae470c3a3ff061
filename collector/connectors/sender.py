"""The outbox's sender for the ``helpdesk`` channel: one job → one helpdesk request sequence.

Every job first makes sure the homediag ticket is linked (opening the helpdesk ticket when this helpdesk is
configured to have them opened, after looking for one a crash left unrecorded); then it sends what it is for. A
bundle is read from the blob store and verified again with its agent's key before it leaves: an unverifiable
bundle is never sent.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, Self

import aiohttp

from shared.bundle import open_bundle
from shared.errors import BundleError
from shared.models import DiagnosisReport
from shared.signing import public_key_from_text

from ..blobs import BlobStore
from ..config import CollectorConfig, HelpdeskConfig
from ..contents import ContentInvalid, parse_contents
from ..errors import NotFound
from ..models import BundleRecord, Ticket
from ..notify.senders import DeliveryFailed
from ..state import Clock
from ..store import Database, SqliteStore
from ..store import connectors as links
from ..store.contacts import Language
from ..store.outbox import Job
from .clients import Attachment, HelpdeskClient, InternalNote, NewTicket, client_for
from .downloads import download_url
from .plan import Action
from .render import bundle_filename, bundle_note_text, opening_text, subject

_LOGGER = logging.getLogger(__name__)
BUNDLE_CONTENT_TYPE = "application/gzip"  # a helpdesk shows it as the .tar.gz it is


def _verified_diagnosis(blob: bytes, public_key: str) -> DiagnosisReport | None:
    """Blocking. The bundle's diagnosis after checking its signature; ``DeliveryFailed`` if it does not verify."""
    try:
        files = open_bundle(blob).verify(public_key_from_text(public_key)).files
    except (BundleError, ValueError) as exc:
        raise DeliveryFailed(f"the bundle does not verify, so it is not sent: {exc}", permanent=True) from exc
    try:
        return parse_contents(files).diagnosis
    except ContentInvalid:
        return None  # stored before ingest checked its files: the note says there is no diagnosis


class HelpdeskSender:
    """Owns the HTTP session and one client per configured helpdesk (an async context manager)."""

    def __init__(self, db: Database, blobs: BlobStore, config: CollectorConfig, clock: Clock) -> None:
        self._db, self._blobs, self._config, self._clock = db, blobs, config, clock
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[str, HelpdeskClient] = {}
        self._download_key: bytes | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        self._clients = {h.name: client_for(h, self._session, self._clock) for h in self._config.connectors.helpdesks}
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, job: Job, now: datetime) -> dict[str, Any] | None:
        helpdesk = self._config.connectors.helpdesk(job.target)
        if helpdesk is None or job.ticket_id is None:
            raise DeliveryFailed(f"no helpdesk '{job.target}' is configured any more", permanent=True)
        ticket = await self._db.run(SqliteStore.get_ticket, job.ticket_id)
        if ticket is None:
            raise DeliveryFailed(f"ticket {job.ticket_id} is gone", permanent=True)
        client = self._clients[helpdesk.name]
        language = Language(job.payload.get("language", Language.EN.value))
        try:
            remote_id = await self._linked(helpdesk, client, ticket, language, now)
            match Action(job.payload["action"]):
                case Action.OPEN:
                    pass  # linking was the job
                case Action.BUNDLE:
                    bundle_id = job.payload["bundle_id"]
                    await self._send_bundle(helpdesk, client, ticket, remote_id, bundle_id, language, now)
                case Action.NOTE:
                    note = InternalNote(job.payload["subject"], job.payload["text"])
                    await client.add_internal_note(remote_id, note)
                case Action.FIELD:
                    await client.set_ticket_field(remote_id, ticket.id)
        except (KeyError, IndexError, TypeError) as exc:
            # A 2xx answer without what the helpdesk's API documents: this attempt failed, the outbox retries it.
            raise DeliveryFailed(f"{helpdesk.name} answered unlike its documented API: {exc!r}") from exc
        return None  # nothing here reaches the customer

    async def _linked(
        self, helpdesk: HelpdeskConfig, client: HelpdeskClient, ticket: Ticket, language: Language, now: datetime
    ) -> str:
        link = await self._db.run(links.link_of, helpdesk.name, ticket.id)
        if link is not None:
            return link.remote_id
        if not helpdesk.create_tickets:
            raise DeliveryFailed(f"ticket {ticket.id} is not linked to {helpdesk.name}", permanent=True)
        remote_id = await client.find_ticket(ticket.id) or await client.open_ticket(
            NewTicket(ticket.id, ticket.household, subject(ticket, language), opening_text(ticket, language))
        )
        try:
            link = await self._db.run(
                links.record_link, helpdesk.name, ticket.id, remote_id, links.LinkOrigin.HOMEDIAG, now
            )
        except ValueError as exc:
            raise DeliveryFailed(str(exc), permanent=True) from exc
        _LOGGER.info("ticket %s linked to %s ticket %s", ticket.id, helpdesk.name, remote_id)
        return link.remote_id

    async def _send_bundle(
        self,
        helpdesk: HelpdeskConfig,
        client: HelpdeskClient,
        ticket: Ticket,
        remote_id: str,
        bundle_id: str,
        language: Language,
        now: datetime,
    ) -> None:
        record = await self._db.run(SqliteStore.get_bundle, bundle_id)
        if record is None or record.ticket_id != ticket.id:
            raise DeliveryFailed(f"bundle {bundle_id} is no longer on ticket {ticket.id}", permanent=True)
        agent = await self._db.run(SqliteStore.get_agent, record.agent_id)
        if agent is None:
            raise DeliveryFailed(f"the agent of bundle {bundle_id} is unknown", permanent=True)
        try:
            blob = await asyncio.to_thread(self._blobs.get, record.sha256)
        except NotFound as exc:
            raise DeliveryFailed(f"the bytes of bundle {bundle_id} are missing", permanent=True) from exc
        diagnosis = await asyncio.to_thread(_verified_diagnosis, blob, agent.public_key)
        attach = record.size <= helpdesk.max_attachment_bytes
        download = None if attach else await self._download(record, now)
        public_url = self._config.notify.public_url.rstrip("/")
        text = bundle_note_text(
            record,
            diagnosis,
            language,
            timeline_url=f"{public_url}/ui/tickets/{ticket.id}#bundle-{record.bundle_id}",
            download=download,
        )
        attachment = Attachment(bundle_filename(record), BUNDLE_CONTENT_TYPE, blob) if attach else None
        await client.add_internal_note(remote_id, InternalNote(subject(ticket, language), text, attachment))
        await self._db.run(
            SqliteStore.audit,
            f"helpdesk:{helpdesk.name}",
            "bundle.sent",
            record.bundle_id,
            {"ticket_id": ticket.id, "remote_id": remote_id, "as": "attachment" if attach else "link"},
            now,
        )

    async def _download(self, record: BundleRecord, now: datetime) -> tuple[str, datetime]:
        if self._download_key is None:
            self._download_key = await self._db.run(links.download_key)
        expires = now + timedelta(seconds=self._config.connectors.download_link_ttl_s)
        url = download_url(self._config.notify.public_url, self._download_key, record.bundle_id, expires)
        return url, expires
