"""What the outbox asks of a helpdesk, and one client per helpdesk API speaking its documented contract.

Every note is internal: RT's ``comment`` (never ``correspond``), a Zendesk comment with ``public: false``, a Jira
Service Management comment or attachment with ``public: false``. A new helpdesk ticket carries only a reference
line (the homediag ticket and household); the evidence follows as internal notes.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from ..config import HelpdeskConfig, HelpdeskKind
from ..notify.senders import DeliveryFailed
from ..state import Clock
from .http import HelpdeskHttp

REMOTE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # RT and Zendesk ids, Jira keys: safe in a URL path


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class InternalNote:
    subject: str
    text: str
    attachment: Attachment | None = None


@dataclass(frozen=True)
class NewTicket:
    ticket_id: int
    household: str
    subject: str
    text: str


class HelpdeskClient(Protocol):
    async def open_ticket(self, ticket: NewTicket) -> str:
        """Open a helpdesk ticket for a homediag ticket; returns its id."""
        ...

    async def find_ticket(self, ticket_id: int) -> str | None:
        """The helpdesk ticket already opened for a homediag ticket (a crash between opening and recording it)."""
        ...

    async def add_internal_note(self, remote_id: str, note: InternalNote) -> None: ...

    async def set_ticket_field(self, remote_id: str, ticket_id: int) -> None:
        """Write the homediag ticket id into the helpdesk ticket's field (tickets opened there)."""
        ...


def _checked_id(value: Any) -> str:
    text = str(value)
    if not REMOTE_ID.match(text):
        raise DeliveryFailed(f"the helpdesk answered with an unusable ticket id {text[:80]!r}", permanent=True)
    return text


class RequestTrackerClient:
    """Request Tracker 5, REST 2 (https://docs.bestpractical.com/rt/5.0.3/RT/REST2.html), token authentication."""

    def __init__(self, config: HelpdeskConfig, session: aiohttp.ClientSession, clock: Clock) -> None:
        self._config = config
        self._http = HelpdeskHttp(
            session,
            config.url.rstrip("/") + "/REST/2.0",
            {"Authorization": f"token {config.token}", "Accept": "application/json"},
            min_interval_s=config.min_interval_s,
            timeout_s=config.timeout_s,
            clock=clock,
        )

    def _fields(self, ticket_id: int, household: str | None = None) -> dict[str, str]:
        fields = {}
        if self._config.ticket_field:
            fields[self._config.ticket_field] = str(ticket_id)
        if household is not None and self._config.household_field:
            fields[self._config.household_field] = household
        return fields

    async def open_ticket(self, ticket: NewTicket) -> str:
        answer = await self._http.request(
            "POST",
            "/ticket",
            json_body={
                "Queue": self._config.queue or "General",
                "Subject": ticket.subject,
                "Content": ticket.text,
                "ContentType": "text/plain",
                "CustomFields": self._fields(ticket.ticket_id, ticket.household),
            },
        )
        return _checked_id(answer["id"])

    async def find_ticket(self, ticket_id: int) -> str | None:
        if not self._config.ticket_field:
            return None
        queue = (self._config.queue or "General").replace("'", "")
        query = f"Queue = '{queue}' AND 'CF.{{{self._config.ticket_field}}}' = '{ticket_id}'"
        answer = await self._http.request("GET", "/tickets", params={"query": query, "fields": "id"})
        items = answer.get("items") or []
        return _checked_id(items[0]["id"]) if items else None

    async def add_internal_note(self, remote_id: str, note: InternalNote) -> None:
        body = {"Subject": note.subject, "Content": note.text, "ContentType": "text/plain"}
        if note.attachment is None:
            await self._http.request("POST", f"/ticket/{remote_id}/comment", json_body=body)
            return
        form = aiohttp.FormData()
        form.add_field("JSON", json.dumps(body), content_type="application/json")
        form.add_field(
            "Attachments",
            note.attachment.data,
            filename=note.attachment.filename,
            content_type=note.attachment.content_type,
        )
        await self._http.request("POST", f"/ticket/{remote_id}/comment", data=form)

    async def set_ticket_field(self, remote_id: str, ticket_id: int) -> None:
        if self._config.ticket_field:
            await self._http.request("PUT", f"/ticket/{remote_id}", json_body={"CustomFields": self._fields(ticket_id)})


class ZendeskClient:
    """Zendesk Support API v2: Tickets (https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/)
    and Attachments (https://developer.zendesk.com/api-reference/ticketing/tickets/ticket-attachments/)."""

    def __init__(self, config: HelpdeskConfig, session: aiohttp.ClientSession, clock: Clock) -> None:
        self._config = config
        credentials = base64.b64encode(f"{config.user}/token:{config.token}".encode()).decode()
        self._http = HelpdeskHttp(
            session,
            config.url.rstrip("/") + "/api/v2",
            {"Authorization": f"Basic {credentials}", "Accept": "application/json"},
            min_interval_s=config.min_interval_s,
            timeout_s=config.timeout_s,
            clock=clock,
        )

    def _custom_fields(self, ticket_id: int, household: str | None = None) -> list[dict[str, Any]]:
        fields: list[dict[str, Any]] = []
        if self._config.ticket_field:
            fields.append({"id": int(self._config.ticket_field), "value": str(ticket_id)})
        if household is not None and self._config.household_field:
            fields.append({"id": int(self._config.household_field), "value": household})
        return fields

    async def open_ticket(self, ticket: NewTicket) -> str:
        answer = await self._http.request(
            "POST",
            "/tickets",
            json_body={
                "ticket": {
                    "subject": ticket.subject,
                    "comment": {"body": ticket.text, "public": False},
                    "external_id": f"homediag-{ticket.ticket_id}",
                    "custom_fields": self._custom_fields(ticket.ticket_id, ticket.household),
                }
            },
            # Zendesk keeps the answer to a key for a while: a retried create returns the same ticket.
            headers={"Idempotency-Key": f"homediag-ticket-{ticket.ticket_id}"},
        )
        return _checked_id(answer["ticket"]["id"])

    async def find_ticket(self, ticket_id: int) -> str | None:
        answer = await self._http.request("GET", "/tickets", params={"external_id": f"homediag-{ticket_id}"})
        tickets = answer.get("tickets") or []
        return _checked_id(tickets[0]["id"]) if tickets else None

    async def add_internal_note(self, remote_id: str, note: InternalNote) -> None:
        comment: dict[str, Any] = {"body": note.text, "public": False}
        if note.attachment is not None:
            upload = await self._http.request(
                "POST",
                "/uploads",
                params={"filename": note.attachment.filename},
                data=note.attachment.data,
                headers={"Content-Type": "application/binary"},
            )
            comment["uploads"] = [upload["upload"]["token"]]
        await self._http.request("PUT", f"/tickets/{remote_id}", json_body={"ticket": {"comment": comment}})

    async def set_ticket_field(self, remote_id: str, ticket_id: int) -> None:
        await self._http.request(
            "PUT",
            f"/tickets/{remote_id}",
            json_body={
                "ticket": {"external_id": f"homediag-{ticket_id}", "custom_fields": self._custom_fields(ticket_id)}
            },
        )


class JiraServiceManagementClient:
    """Jira Service Management Cloud REST API (https://developer.atlassian.com/cloud/jira/service-desk/rest/):
    customer requests, temporary attachments, internal (``public: false``) comments."""

    def __init__(self, config: HelpdeskConfig, session: aiohttp.ClientSession, clock: Clock) -> None:
        self._config = config
        credentials = base64.b64encode(f"{config.user}:{config.token}".encode()).decode()
        self._http = HelpdeskHttp(
            session,
            config.url.rstrip("/") + "/rest",
            {"Authorization": f"Basic {credentials}", "Accept": "application/json"},
            min_interval_s=config.min_interval_s,
            timeout_s=config.timeout_s,
            clock=clock,
        )

    async def open_ticket(self, ticket: NewTicket) -> str:
        fields: dict[str, Any] = {"summary": ticket.subject, "description": ticket.text}
        if self._config.ticket_field:
            fields[self._config.ticket_field] = str(ticket.ticket_id)
        if self._config.household_field:
            fields[self._config.household_field] = ticket.household
        answer = await self._http.request(
            "POST",
            "/servicedeskapi/request",
            json_body={
                "serviceDeskId": self._config.queue,
                "requestTypeId": self._config.request_type,
                "requestFieldValues": fields,
            },
        )
        return _checked_id(answer["issueKey"])

    async def find_ticket(self, ticket_id: int) -> str | None:
        """By JQL on the ticket field (Search for issues using JQL enhanced search); ``~`` is the only operator
        text fields take, so the value is compared exactly here."""
        field = self._config.ticket_field
        if not field or not field.startswith("customfield_"):
            return None
        number = field.removeprefix("customfield_")
        answer = await self._http.request(
            "GET",
            "/api/3/search/jql",
            params={"jql": f'cf[{number}] ~ "{ticket_id}"', "fields": field, "maxResults": "50"},
        )
        for issue in answer.get("issues") or []:
            if str((issue.get("fields") or {}).get(field)) == str(ticket_id):
                return _checked_id(issue["key"])
        return None

    async def add_internal_note(self, remote_id: str, note: InternalNote) -> None:
        if note.attachment is None:
            await self._http.request(
                "POST", f"/servicedeskapi/request/{remote_id}/comment", json_body={"body": note.text, "public": False}
            )
            return
        form = aiohttp.FormData()
        form.add_field(
            "file", note.attachment.data, filename=note.attachment.filename, content_type=note.attachment.content_type
        )
        temporary = await self._http.request(
            "POST",
            f"/servicedeskapi/servicedesk/{self._config.queue}/attachTemporaryFile",
            data=form,
            headers={"X-Atlassian-Token": "no-check", "X-ExperimentalApi": "opt-in"},
        )
        ids = [item["temporaryAttachmentId"] for item in temporary["temporaryAttachments"]]
        await self._http.request(
            "POST",
            f"/servicedeskapi/request/{remote_id}/attachment",
            json_body={"temporaryAttachmentIds": ids, "public": False, "additionalComment": {"body": note.text}},
        )

    async def set_ticket_field(self, remote_id: str, ticket_id: int) -> None:
        if self._config.ticket_field:
            await self._http.request(
                "PUT", f"/api/2/issue/{remote_id}", json_body={"fields": {self._config.ticket_field: str(ticket_id)}}
            )


def client_for(config: HelpdeskConfig, session: aiohttp.ClientSession, clock: Clock) -> HelpdeskClient:
    match config.kind:
        case HelpdeskKind.REQUEST_TRACKER:
            return RequestTrackerClient(config, session, clock)
        case HelpdeskKind.ZENDESK:
            return ZendeskClient(config, session, clock)
        case HelpdeskKind.JIRA_SERVICE_MANAGEMENT:
            return JiraServiceManagementClient(config, session, clock)
