"""The channels' senders: e-mail over SMTP (TLS, STARTTLS, AUTH) and signed webhooks.

A sender delivers one outbox job or raises ``DeliveryFailed``; it returns what the ticket records about a
message that reached the customer (``notification_sent``), or None for deliveries that are not to the customer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol

import aiohttp

from ..config import SmtpConfig, SmtpSecurity, WebhookEndpoint
from ..store.outbox import Job

SIGNATURE_HEADER = "X-Homediag-Signature"
TIMESTAMP_HEADER = "X-Homediag-Timestamp"
DELIVERY_HEADER = "X-Homediag-Delivery"


class DeliveryFailed(Exception):
    """This attempt failed; ``permanent`` ones are not retried (the destination refused the message itself).
    ``retry_after_s`` is the destination's own word on when to try again (HTTP 429/503 ``Retry-After``);
    ``deferred`` means nothing was sent (the destination asked us to wait), so it does not use up an attempt."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after_s: float | None = None, deferred: bool = False
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s
        self.deferred = deferred


class Sender(Protocol):
    async def send(self, job: Job, now: datetime) -> dict[str, Any] | None: ...


def message_id(key: str) -> str:
    """The same job always carries the same Message-ID, so a resend after a crash can be recognised."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@homediag>"


class EmailSender:
    def __init__(self, smtp: SmtpConfig) -> None:
        self._smtp = smtp

    def _message(self, job: Job, now: datetime) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"] = self._smtp.sender, job.payload["to"]
        message["Subject"], message["Message-ID"] = job.payload["subject"], message_id(job.key)
        message["Date"] = format_datetime(now)
        message["Content-Language"] = "zh-Hans" if job.payload.get("language") == "zh" else "en"
        message.set_content(job.payload["body"])
        if job.payload.get("html"):  # jobs planned before HTML bodies existed carry the text only
            message.add_alternative(job.payload["html"], subtype="html")
        return message

    def _deliver(self, message: EmailMessage) -> None:
        """Blocking: runs in a thread."""
        cfg = self._smtp
        context = ssl.create_default_context(cafile=cfg.ca_file) if cfg.security is not SmtpSecurity.NONE else None
        connection = (
            smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=context)
            if cfg.security is SmtpSecurity.TLS
            else smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
        )
        with connection as smtp:
            if cfg.security is SmtpSecurity.STARTTLS:
                smtp.starttls(context=context)
            if cfg.username:
                smtp.login(cfg.username, cfg.password or "")
            smtp.send_message(message)

    async def send(self, job: Job, now: datetime) -> dict[str, Any] | None:
        try:
            await asyncio.to_thread(self._deliver, self._message(job, now))
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"recipient refused: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code in (550, 553)
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        return {
            "channel": "email",
            "message": job.payload["message"],
            "to": job.payload["to"],
            "subject": job.payload["subject"],
            "job": job.key,
        }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``<timestamp>.<body>``: a receiver checks it and rejects old timestamps (replays)."""
    return "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(self, endpoints: list[WebhookEndpoint], session: aiohttp.ClientSession) -> None:
        self._endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        self._session = session

    async def send(self, job: Job, now: datetime) -> dict[str, Any] | None:
        endpoint = self._endpoints.get(job.target)
        if endpoint is None:
            raise DeliveryFailed(f"no webhook endpoint '{job.target}' is configured any more", permanent=True)
        body = job.payload["body"].encode()
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: job.key,
            SIGNATURE_HEADER: signature(endpoint.secret, timestamp, body),
        }
        try:
            async with self._session.post(
                endpoint.url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
            ) as answer:
                if answer.status >= 300:
                    raise DeliveryFailed(f"HTTP {answer.status}", permanent=answer.status == 410)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        return None
