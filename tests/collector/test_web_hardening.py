"""Web hardening: security headers on every answer, no inline script or style, a Secure cookie over HTTPS
(direct or through a trusted proxy), and sign-in throttled per account and per address."""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientSession, TCPConnector
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.app import create_app
from collector.models import Role
from collector.web.passwords import hash_password
from lab.certs import make_server_certificate
from shared.models import Priority, Trigger, TriggerKind
from tests.configs import collector_config

from .conftest import NOW, Collector, ManualClock

PASSWORD = "correct horse battery"


def _with_password(collector: Collector, name: str, role: Role = Role.ENGINEER) -> None:
    collector.user(name, role)
    store = collector.store()
    try:
        store.set_password(name, hash_password(PASSWORD), collector.clock())
    finally:
        store.close()


async def _login(client: TestClient, name: str, password: str, **headers: str) -> Any:
    return await client.post(
        "/ui/login", data={"name": name, "password": password, "next": "/ui/"}, allow_redirects=False, headers=headers
    )


class _Inline(HTMLParser):
    """Everything in a page that a CSP without 'unsafe-inline' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style" or (tag == "script" and "src" not in names) or "style" in names:
            self.found.append(f"<{tag} {sorted(names)}>")
        self.found += [f"<{tag} {name}=…>" for name in names if name.startswith("on")]


def _check_headers(headers: Any, where: str) -> None:
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp, where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "no-referrer", where


async def test_every_answer_has_the_security_headers_and_no_page_needs_inline_code(collector: Collector) -> None:
    _with_password(collector, "eve")
    agent = await collector.enrol("hh-a")
    trigger = Trigger(
        kind=TriggerKind.SELF_DIAGNOSIS,
        open_ticket=True,
        priority=Priority.P2,
        summary="plug drops off",
        signature="device_availability:plug",
    )
    status, uploaded, _ = await collector.upload(agent.bundle(start=NOW, trigger=trigger))
    assert status == 201
    signed_in = await _login(collector.client, "eve", PASSWORD)
    assert signed_in.status == 303
    _check_headers(signed_in.headers, "login redirect")
    pages = ["/ui/", f"/ui/tickets/{uploaded['ticket_id']}", "/ui/fleet", "/ui/reports"]
    for path in pages:
        answer = await collector.client.get(path)
        assert answer.status == 200, path
        _check_headers(answer.headers, path)
        parser = _Inline()
        parser.feed(await answer.text())
        assert parser.found == [], (path, parser.found)
    collector.client.session.cookie_jar.clear()
    for path in ("/ui/login", "/ui/static/ticket.js", "/api/v1/tickets", "/api/v1/nowhere", "/healthz", "/ui/"):
        answer = await collector.client.get(path, allow_redirects=False)
        _check_headers(answer.headers, path)


@pytest.mark.parametrize("config_overrides", [{"web": {"trusted_proxies": ["10.9.0.0/16"]}}])
async def test_forwarding_headers_from_an_untrusted_peer_change_nothing(collector: Collector) -> None:
    _with_password(collector, "eve")
    answer = await _login(collector.client, "eve", PASSWORD, **{"X-Forwarded-Proto": "https"})
    assert answer.status == 303
    assert "Secure" not in answer.headers["Set-Cookie"]  # loopback is not 10.9/16: a client's own claim
    assert "Strict-Transport-Security" not in answer.headers


@pytest.mark.parametrize("config_overrides", [{"web": {"trusted_proxies": ["127.0.0.1"]}}])
async def test_a_trusted_proxy_saying_https_makes_the_cookie_secure(collector: Collector) -> None:
    _with_password(collector, "eve")
    plain = await _login(collector.client, "eve", PASSWORD)
    assert "Secure" not in plain.headers["Set-Cookie"]  # plain HTTP end to end
    proxied = await _login(collector.client, "eve", PASSWORD, **{"X-Forwarded-Proto": "https"})
    cookie = proxied.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert proxied.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.fixture
async def https_collector(tmp_path: Path) -> AsyncIterator[tuple[str, ssl.SSLContext, Collector]]:
    certificate = make_server_certificate(tmp_path / "tls")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(certificate.cert_file, certificate.key_file)
    clock = ManualClock(NOW)
    config = collector_config(tmp_path)
    server = TestServer(create_app(config, clock=clock, monotonic_clock=clock.monotonic), host="127.0.0.1")
    await server.start_server(ssl=server_context)  # TestClient would start it without TLS
    async with TestClient(server) as client:
        yield (
            str(server.make_url("/")),
            ssl.create_default_context(cafile=str(certificate.ca_file)),
            Collector(client, config, clock),
        )


async def test_over_https_the_session_cookie_is_secure(https_collector: tuple[str, ssl.SSLContext, Collector]) -> None:
    base, client_context, collector = https_collector
    assert base.startswith("https://")
    _with_password(collector, "eve")
    async with ClientSession(connector=TCPConnector(ssl=client_context)) as session:
        answer = await session.post(
            f"{base}ui/login", data={"name": "eve", "password": PASSWORD, "next": "/ui/"}, allow_redirects=False
        )
        assert answer.status == 303
        assert re.search(r"homediag_session=[^;]+;.*Secure", answer.headers["Set-Cookie"])


@pytest.mark.parametrize(
    "config_overrides",
    [
        {
            "web": {
                "login_burst_per_account": 5,
                "login_per_minute_per_account": 1,
                "login_burst_per_address": 8,
                "login_per_minute_per_address": 0.5,
            }
        }
    ],
)
async def test_sign_in_is_throttled_per_account_and_per_address(collector: Collector) -> None:
    _with_password(collector, "eve")
    answers = [await _login(collector.client, "eve", f"guess-{n}") for n in range(15)]
    statuses = [answer.status for answer in answers]
    assert statuses == [200] * 5 + [429] * 10, statuses  # 15 wrong passwords: the sixth is already refused
    throttled = answers[-1]
    assert int(throttled.headers["Retry-After"]) == 60
    page = await throttled.text()
    assert "Too many failed sign-ins" in page and 'id="login-error"' in page  # the login page, not an error dump
    assert (await _login(collector.client, "eve", PASSWORD)).status == 429  # even the right password waits
    collector.clock.advance(60)
    assert (await _login(collector.client, "eve", PASSWORD)).status == 303

    # Per address: other names from the same address run into its bucket (8; 3.5 left after eve's 5 and 60 s).
    statuses = [(await _login(collector.client, f"user-{n}", "x")).status for n in range(5)]
    assert statuses == [200, 200, 200, 429, 429], statuses
    store = collector.store()
    try:
        failed = [entry for entry in store.audit_log(limit=100) if entry["action"] == "ui.login_failed"]
    finally:
        store.close()
    assert len(failed) == 5 + 3  # throttled attempts never reach the password check nor the audit log


async def test_password_hashing_parameters_are_the_documented_ones() -> None:
    scheme, n, r, p, salt, digest = hash_password("x").split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", 2**14, 8, 1)
    documented = Path(__file__).parents[2].joinpath("docs", "security.md").read_text(encoding="utf-8")
    assert "N = 2^14, r = 8, p = 1" in documented
    assert len(salt) == 24 and len(digest) == 44  # 16-byte salt, 32-byte key, base64


# What a signed-in user can put into the UI's addresses and forms; {} is where the drawn text goes.
UI_TARGETS = (
    ("GET", "/ui/?priority={}"),
    ("GET", "/ui/?state={}"),
    ("GET", "/ui/?group={}"),
    ("GET", "/ui/tickets/{}"),
    ("GET", "/ui/reports?month={}"),
    ("GET", "/ui/bundles/{}/files/{}"),
    ("GET", "/ui/login?next={}"),
    ("POST", "/ui/tickets/{}/live/inventory"),
    ("POST", "/ui/login"),
    ("GET", "/ui/fleet?{}={}"),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(UI_TARGETS), text=st.text(max_size=30))
async def test_no_ui_page_answers_500_to_what_a_user_can_type(
    collector: Collector, target: tuple[str, str], text: str
) -> None:
    if "eve" not in collector.tokens:
        _with_password(collector, "eve")
        assert (await _login(collector.client, "eve", PASSWORD)).status == 303
    method, template = target
    url = template.replace("{}", quote(text, safe=""))
    form = {"name": text, "password": text, "next": text} if method == "POST" else None
    answer = await collector.client.request(method, url, data=form, allow_redirects=False)
    assert answer.status < 500, (method, url, answer.status, await answer.text())
