"""What a helpdesk tells us: its signature checked, its body read into one ``InboundEvent``.

Each helpdesk signs its own way:

* Zendesk webhooks: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(secret, timestamp + body)) with
  ``X-Zendesk-Webhook-Signature-Timestamp`` (https://developer.zendesk.com/documentation/webhooks/verifying/);
  timestamps further than the configured skew from now are refused (replays).
* Jira admin webhooks with a secret: ``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>``
  (https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks).
* Request Tracker's scrip (docs/connectors.md): the shared secret in ``X-Homediag-Secret``.

Bodies: Jira's own webhook payload (``issue.key``, ``issue.fields.status.statusCategory.key``, the household in
the configured custom field); for Zendesk and RT the JSON the trigger or scrip is set up to send (docs/connectors.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config import ConnectorsConfig, HelpdeskConfig, HelpdeskKind
from ..errors import BadRequest, Unauthorized
from .clients import REMOTE_ID

ZENDESK_SIGNATURE = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
JIRA_SIGNATURE = "X-Hub-Signature"
RT_SECRET = "X-Homediag-Secret"
HOUSEHOLD = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
SOLVED_STATUSES = frozenset({"resolved", "solved", "closed", "done"})
MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class InboundEvent:
    remote_id: str
    household: str | None  # present when the helpdesk ticket names one: link (or open) ours
    solved: bool  # solved or resolved there: move ours on
    subject: str | None = None
    ticket_id: int | None = None  # our ticket id in the helpdesk's field: a ticket we opened, linked by us


def _unauthorized() -> Unauthorized:
    return Unauthorized("the signature does not match", code="signature_invalid")


def check_signature(
    helpdesk: HelpdeskConfig, connectors: ConnectorsConfig, headers: Mapping[str, str], body: bytes, now: datetime
) -> None:
    secret = helpdesk.inbound_secret.encode()
    match helpdesk.kind:
        case HelpdeskKind.ZENDESK:
            timestamp, given = headers.get(ZENDESK_TIMESTAMP, ""), headers.get(ZENDESK_SIGNATURE, "")
            expected = base64.b64encode(hmac.new(secret, timestamp.encode() + body, hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(expected.encode(), given.encode()):
                raise _unauthorized()
            try:
                sent = datetime.fromisoformat(timestamp)
            except ValueError:
                raise _unauthorized() from None
            if sent.tzinfo is None or abs((now - sent).total_seconds()) > connectors.inbound_max_skew_s:
                raise Unauthorized("the webhook's timestamp is too old or in the future", code="signature_expired")
        case HelpdeskKind.JIRA_SERVICE_MANAGEMENT:
            expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected.encode(), headers.get(JIRA_SIGNATURE, "").encode()):
                raise _unauthorized()
        case HelpdeskKind.REQUEST_TRACKER:
            if not hmac.compare_digest(secret, headers.get(RT_SECRET, "").encode()):
                raise _unauthorized()


def _text(value: Any) -> str | None:
    """A field's text: a string, a number, or a select option's ``value``; anything else is absent."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else (a hostile body's odd shapes are simply absent)."""
    return value if isinstance(value, dict) else {}


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="body_invalid")


def parse_event(helpdesk: HelpdeskConfig, body: bytes) -> InboundEvent:
    try:
        data = json.loads(body)
    except ValueError:
        raise _invalid("the body is not JSON") from None
    if not isinstance(data, dict):
        raise _invalid("the body must be a JSON object")
    match helpdesk.kind:
        case HelpdeskKind.JIRA_SERVICE_MANAGEMENT:
            issue = data.get("issue")
            if not isinstance(issue, dict):
                raise _invalid("issue: missing")
            fields = _object(issue.get("fields"))
            category = _object(_object(fields.get("status")).get("statusCategory"))
            remote, household = _text(issue.get("key")), _text(fields.get(helpdesk.household_field or ""))
            solved = category.get("key") == "done"
            subject = _text(fields.get("summary"))
            ours = _text(fields.get(helpdesk.ticket_field or ""))
        case HelpdeskKind.ZENDESK | HelpdeskKind.REQUEST_TRACKER:
            remote, household = _text(data.get("ticket_id")), _text(data.get("household"))
            solved = (_text(data.get("status")) or "").lower() in SOLVED_STATUSES
            subject = _text(data.get("subject"))
            ours = _text(data.get("homediag_ticket"))
    if remote is None or not REMOTE_ID.match(remote):
        raise _invalid("the helpdesk ticket id is missing or not an id")
    if household is not None and not HOUSEHOLD.match(household):
        raise _invalid("the household is not a household id")
    ticket_id = int(ours) if ours is not None and ours.isdecimal() and len(ours) < 19 else None
    return InboundEvent(remote, household, solved, subject[:4000] if subject else None, ticket_id)
