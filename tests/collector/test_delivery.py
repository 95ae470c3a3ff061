"""Notifications end to end: e-mail through a real SMTP server on loopback (aiosmtpd, STARTTLS and AUTH) and
signed webhooks to a real aiohttp receiver, through the durable outbox — retried, never duplicated, kept across
a restart, and recorded on the ticket so the SLA clocks count them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from collector.app import create_app
from collector.config import SmtpSecurity
from collector.delivery import backoff
from collector.models import Role
from collector.store import open_store
from lab.certs import make_server_certificate
from tests.configs import collector_config
from tests.waiting import eventually

from .conftest import NOW, Collector, ManualClock
from .sessions import sign_in

SECRET = "whsec-0123456789abcdef"
INTERNAL = "INTERNAL-only-the-router-is-a-cheap-one"


@dataclass
class Inbox:
    """What the SMTP server accepted (after STARTTLS and AUTH)."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert session.ssl is not None and session.authenticated, "mail before STARTTLS and AUTH"
        self.messages.append(message_from_bytes(envelope.original_content or b"", policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"desk", b"smtp-pass")
    return AuthResult(success=ok)


@dataclass
class Receiver:
    """A company's helpdesk: checks every signature, answers 500 while ``failing``."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    failing: int = 0
    rejected: int = 0  # deliveries whose signature did not check out
    secret: str = SECRET

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers["X-Homediag-Timestamp"]
        expected = "v1=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers["X-Homediag-Signature"]):
            self.rejected += 1
            return web.Response(status=401)
        if self.failing:
            self.failing -= 1
            return web.Response(status=500)
        self.deliveries.append({"key": request.headers["X-Homediag-Delivery"], **json.loads(body)})
        return web.Response(status=204)


@dataclass
class Servers:
    inbox: Inbox
    receiver: Receiver
    smtp_port: int
    webhook_url: str
    ca_file: Path


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Servers]:
    cert = make_server_certificate(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert_file, cert.key_file)
    inbox, receiver = Inbox(), Receiver()
    smtp = await asyncio.get_running_loop().create_server(
        lambda: SMTP(
            inbox,
            hostname="smtp.test",
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            authenticator=_authenticate,
        ),
        "127.0.0.1",
        0,
    )
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    hook = TestServer(app, host="127.0.0.1")
    await hook.start_server()
    try:
        yield Servers(inbox, receiver, smtp.sockets[0].getsockname()[1], str(hook.make_url("/hook")), cert.ca_file)
    finally:
        await hook.close()
        smtp.close()
        await smtp.wait_closed()


def notify_config(servers: Servers) -> dict[str, Any]:
    return {
        "notify": {
            "email": {
                "host": "127.0.0.1",
                "port": servers.smtp_port,
                "security": "starttls",
                "username": "desk",
                "password": "smtp-pass",
                "sender": "support@homediag.test",
                "ca_file": str(servers.ca_file),
            },
            "webhooks": [{"name": "helpdesk", "url": servers.webhook_url, "secret": SECRET}],
            "public_url": "https://support.homediag.test",
            "poll_interval_s": 0.05,
            "backoff_s": 60,
        }
    }


@pytest.fixture
def config_overrides(servers: Servers) -> dict[str, Any]:
    return notify_config(servers)


def plain(message: EmailMessage) -> str:
    """The plain-text body of a multipart/alternative message."""
    part = message.get_body(("plain",))
    assert part is not None, "no text/plain part"
    return str(part.get_content())


def html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None, "no text/html part"
    return str(part.get_content())


async def test_customer_mail_and_signed_webhooks_end_to_end(collector: Collector, servers: Servers) -> None:
    servers.receiver.failing = 1  # the helpdesk's first answer is a 500: the outbox retries after its backoff
    eve = await sign_in(collector, "eve", Role.ENGINEER)
    status, where = await eve.post(
        "/ui/tickets",
        {
            "household": "hh-mail",
            "device": "Aqara curtain E1",
            "when": "nightly",
            "symptom": "ignores the app",
            "priority": "P2",
            "channel": "hotline",
            "email": "li@example.com",
            "language": "zh",
            "timezone": "Asia/Shanghai",
        },
    )
    tid = int(where.rsplit("/", 1)[1])
    token = collector.user("eve-api", Role.ENGINEER)
    for body in (
        {"text": "我们正在查看网关日志。", "visibility": "public"},
        {"text": INTERNAL, "visibility": "internal"},
    ):
        assert (await collector.call("POST", f"/api/v1/tickets/{tid}/notes", token, json=body))[0] == 201
    await eventually(lambda: len(servers.inbox.messages) == 2)
    received, reply = servers.inbox.messages
    assert received["Subject"] == f"我们已收到您的请求（工单 {tid}）" and received["To"] == "li@example.com"
    assert "级别为 P2" in plain(received) and "CST" in plain(received)  # expected time, in the household's zone
    assert f"https://support.homediag.test/portal/tickets/{tid}" in plain(received)
    assert '<html lang="zh">' in html(received) and "下一步" in html(received) and "CST" in html(received)
    assert "我们正在查看网关日志。" in plain(reply) and "我们正在查看网关日志。" in html(reply)
    assert all(INTERNAL not in plain(m) + html(m) for m in servers.inbox.messages)
    await eventually(
        lambda: (
            sum(e["event"]["kind"] == "notification_sent" for e in servers.receiver.deliveries) == 2
            and len(servers.receiver.deliveries) >= 3
        )
    )
    collector.clock.advance(120)  # past the backoff of the delivery the helpdesk refused
    status, ticket = await collector.call("GET", f"/api/v1/tickets/{tid}", token)
    public = [e for e in ticket["events"] if e["kind"] != "internal_note"]
    await eventually(lambda: {d["event"]["id"] for d in servers.receiver.deliveries} >= {e["id"] for e in public})
    keys = [d["key"] for d in servers.receiver.deliveries]
    assert len(keys) == len(set(keys))  # never twice
    assert all(INTERNAL not in json.dumps(d) for d in servers.receiver.deliveries)  # the endpoint gets the public view
    sent = [e for e in ticket["events"] if e["kind"] == "notification_sent"]
    assert [e["data"]["message"] for e in sent] == ["received", "reply"]
    status, sla = await collector.call("GET", f"/api/v1/tickets/{tid}/sla", token)
    assert next(c for c in sla["clocks"] if c["target"] == "first_response")["state"] == "met"
    admin = collector.user("root", Role.ADMIN)
    status, log = await collector.call("GET", "/api/v1/deliveries", admin)
    refused = [job for job in log["deliveries"] if any(a["outcome"] == "retry" for a in job["attempt_log"])]
    assert status == 200 and len(refused) == 1 and refused[0]["state"] == "sent" and refused[0]["attempts"] == 2
    assert (await collector.call("GET", "/api/v1/deliveries", token))[0] == 403
    root = await sign_in(collector, "root-web", Role.ADMIN)
    status, _, page = await root.get("/ui/deliveries")
    assert status == 200 and page.count('class="job sent"') == len(log["deliveries"]) and "HTTP 500" in page
    assert (await eve.get("/ui/deliveries"))[0] == 403


async def test_jobs_survive_a_restart_and_are_not_planned_twice(tmp_path: Path, servers: Servers) -> None:
    config = collector_config(tmp_path, **notify_config(servers))
    clock = ManualClock(NOW)
    servers.receiver.failing = 10**6  # down during the first run
    for run in range(2):
        app = create_app(config, clock=clock, monotonic_clock=clock.monotonic)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            if run == 0:
                store = open_store(config)
                try:
                    _, token = store.create_user("api", Role.ENGINEER, None, clock())
                finally:
                    store.close()
                answer = await client.post(
                    "/api/v1/tickets",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"household": "hh-r", "device": "plug", "symptom": "off", "when": "now", "priority": "P3"},
                )
                assert answer.status == 201
                await eventually(lambda: servers.receiver.failing < 10**6)  # tried once and refused
            else:
                servers.receiver.failing = 0
                clock.advance(3600)
                await eventually(lambda: len(servers.receiver.deliveries) == 1)
                await asyncio.sleep(0.3)  # more passes of the outbox: nothing more goes out
    assert [d["event"]["kind"] for d in servers.receiver.deliveries] == ["created"]


async def test_each_endpoint_signs_with_its_own_secret_and_sees_what_it_may(tmp_path: Path, servers: Servers) -> None:
    """Two endpoints: the helpdesk (customer's view, SECRET) and an internal chat (its own secret, internal events
    too). Each receiver checks the signature with its own secret only."""
    chat = Receiver(secret="chat-secret-fedcba9876543210")
    app = web.Application()
    app.router.add_post("/chat", chat.handle)
    hook = TestServer(app, host="127.0.0.1")
    await hook.start_server()
    overrides = notify_config(servers)
    overrides["notify"]["webhooks"].append(
        {"name": "chat", "url": str(hook.make_url("/chat")), "secret": chat.secret, "include_internal": True}
    )
    config = collector_config(tmp_path, **overrides)
    try:
        async with TestClient(TestServer(create_app(config, clock=ManualClock(NOW)), host="127.0.0.1")) as client:
            store = open_store(config)
            try:
                _, token = store.create_user("api", Role.ENGINEER, None, NOW)
            finally:
                store.close()
            auth = {"Authorization": f"Bearer {token}"}
            answer = await client.post(
                "/api/v1/tickets",
                headers=auth,
                json={"household": "hh-w", "device": "plug", "symptom": "off", "when": "now", "priority": "P3"},
            )
            tid = (await answer.json())["id"]
            for visibility, text in (("internal", INTERNAL), ("public", "We are on it.")):
                answer = await client.post(
                    f"/api/v1/tickets/{tid}/notes", headers=auth, json={"text": text, "visibility": visibility}
                )
                assert answer.status == 201
            await eventually(lambda: len(chat.deliveries) >= 3 and len(servers.receiver.deliveries) >= 2)
    finally:
        await hook.close()
    assert chat.rejected == servers.receiver.rejected == 0  # each signature checks out with its endpoint's secret
    assert any(INTERNAL in json.dumps(d) for d in chat.deliveries)  # include_internal: the note too
    assert all(INTERNAL not in json.dumps(d) for d in servers.receiver.deliveries)
    assert {d["key"].rsplit(":", 1)[1] for d in chat.deliveries} == {"chat"}


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, 30, 300).total_seconds() for n in range(1, 7)] == [30, 60, 120, 240, 300, 300]


async def test_the_72_hour_notice_goes_out_by_itself_and_keeps_the_clock_green(
    collector: Collector, servers: Servers
) -> None:
    from collector.state import SCANNER

    token = collector.user("eve-api", Role.ENGINEER)
    assert (
        await collector.call(
            "PUT",
            "/api/v1/households/hh-quiet/contact",
            token,
            json={"email": "quiet@example.com", "language": "en", "timezone": "Europe/Berlin"},
        )
    )[0] == 200
    _, ticket = await collector.call(
        "POST",
        "/api/v1/tickets",
        token,
        json={"household": "hh-quiet", "device": "plug", "symptom": "clicks", "when": "sometimes", "priority": "P3"},
    )
    await eventually(lambda: len(servers.inbox.messages) == 1)  # ticket received
    collector.clock.advance(55 * 3600)  # 17 h left of the 72 hours: the scanner warns, the outbox tells the customer
    await collector.client.app[SCANNER].scan()
    await eventually(lambda: len(servers.inbox.messages) == 2)
    notice = servers.inbox.messages[1]
    assert notice["Subject"] == f"Ticket {ticket['id']}: we are still working on it"
    assert "CET" in plain(notice) and "CET" in html(notice)  # the household's zone
    store = collector.store()
    try:
        await eventually(lambda: sum(e.kind == "notification_sent" for e in store.ticket_events(ticket["id"])) == 2)
    finally:
        store.close()
    _, sla = await collector.call("GET", f"/api/v1/tickets/{ticket['id']}/sla", token)
    silence = [c for c in sla["clocks"] if c["target"] == "update_72h" and c["seconds_left"] is not None]
    assert silence and silence[0]["seconds_left"] > 70 * 3600  # the notice restarted the 72 hours
    assert (
        await collector.call("PUT", "/api/v1/households/hh-quiet/contact", token, json={"timezone": "Mars/Olympus"})
    )[0] == 400


async def test_smtp_over_implicit_tls_and_a_refused_recipient(tmp_path: Path) -> None:
    """Port-465 style TLS from the first byte; a 550 for the recipient is permanent (not retried)."""
    from collector.config import SmtpConfig
    from collector.notify.senders import DeliveryFailed, EmailSender
    from collector.store.outbox import Job

    cert = make_server_certificate(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert_file, cert.key_file)

    class Picky(Inbox):
        async def handle_RCPT(
            self,
            server: SMTP,
            session: Session,
            envelope: Envelope,
            address: str,
            options: list[str],
        ) -> str:
            if address.startswith("gone@"):
                return "550 no such mailbox"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            assert server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
            self.messages.append(message_from_bytes(envelope.original_content or b"", policy=policy.default))  # type: ignore[arg-type]
            return "250 OK"

    inbox = Picky()
    smtp = await asyncio.get_running_loop().create_server(
        lambda: SMTP(inbox, hostname="smtp.test"), "127.0.0.1", 0, ssl=context
    )
    try:
        sender = EmailSender(
            SmtpConfig(
                host="127.0.0.1",
                port=smtp.sockets[0].getsockname()[1],
                security=SmtpSecurity.TLS,
                sender="support@homediag.test",
                ca_file=cert.ca_file,
            )
        )
        job = Job(
            1,
            "7:email:li@example.com",
            "email",
            "li@example.com",
            1,
            7,
            {"to": "li@example.com", "subject": "s", "body": "b", "message": "reply", "language": "en"},
            0,
        )
        recorded = await sender.send(job, NOW)
        assert recorded and recorded["message"] == "reply" and len(inbox.messages) == 1
        assert inbox.messages[0]["Message-ID"].endswith("@homediag>")
        with pytest.raises(DeliveryFailed) as refused:
            await sender.send(
                Job(
                    2,
                    "8:email:gone@example.com",
                    "email",
                    "gone@example.com",
                    1,
                    8,
                    {**job.payload, "to": "gone@example.com"},
                    0,
                ),
                NOW,
            )
        assert refused.value.permanent
    finally:
        smtp.close()
        await smtp.wait_closed()
