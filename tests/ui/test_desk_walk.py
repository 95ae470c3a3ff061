"""The whole story in headless Chromium: an engineer opens a ticket from the intake form, replies publicly and
notes privately; the customer's e-mail arrives at a real SMTP server (STARTTLS, AUTH); the customer signs in,
sees the reply and not the note, confirms the fix and rates it; a webhook receiver got every event, each with
a valid signature. Every page visited is screenshotted and checked for server errors and template leftovers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import FilePayload, Page, async_playwright

from collector.app import create_app
from collector.models import Role
from collector.store import open_store
from collector.web.passwords import hash_password
from shared.models import utcnow
from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.collector.test_delivery import INTERNAL, Servers, html, notify_config, plain
from tests.configs import collector_config
from tests.waiting import eventually

pytestmark = pytest.mark.browser
REPLY = "我们发现路由器每晚 03:00 重启，请把重启时间改到 05:00。"


async def _checked(page: Page, shots: Path, name: str) -> str:
    """The page's text, after a screenshot; no server error, no template leftovers."""
    await page.screenshot(path=str(shots / f"desk-{name}.png"), full_page=True)
    text = await page.inner_text("body")
    for bad in ("Internal Server Error", "Traceback", "{{", "{%", "None", "undefined"):
        assert bad not in text, (name, bad)
    return text


async def test_engineer_and_customer_walk_the_whole_story(tmp_path: Path, servers: Servers) -> None:
    require_chromium()
    overrides = notify_config(servers)
    overrides["notify"]["backoff_s"] = 1  # real time here: a send that fails on a busy machine is retried soon
    config = collector_config(tmp_path, support={"timezone": "Asia/Shanghai"}, **overrides)
    store = open_store(config)
    try:
        for name, role, household in (("eve", Role.ENGINEER, None), ("carol", Role.CUSTOMER, "hh-walk")):
            store.create_user(name, role, household, utcnow())
            store.set_password(name, hash_password(f"pass-{name}"), utcnow())
    finally:
        store.close()
    server = TestServer(create_app(config), host="127.0.0.1")
    await server.start_server()
    shots = Path(os.environ.get("HOMEDIAG_SCREENSHOT_DIR", tmp_path))
    url = str(server.make_url("")).rstrip("/")
    errors: list[str] = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:

                async def sign_in(name: str) -> Page:
                    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
                    page.set_default_timeout(10_000)
                    page.on("pageerror", lambda error: errors.append(str(error)))
                    await page.goto(f"{url}/ui/login")
                    await page.fill("#name", name)
                    await page.fill("#password", f"pass-{name}")
                    await page.click("#sign-in")
                    return page

                eve = await sign_in("eve")
                await eve.click("#nav-new")
                await _checked(eve, shots, "new-ticket")
                for field, value in (
                    ("household", "hh-walk"),
                    ("customer", "Li Wei"),
                    ("email", "li@example.com"),
                    ("timezone", "Asia/Shanghai"),
                    ("device", "Aqara curtain E1"),
                    ("firmware", "0.0.0_0023"),
                    ("when", "every night at 03:00"),
                    ("symptom", "the curtain ignores the app"),
                    ("environment", "TP-Link Archer C6"),
                    ("impact", "one device"),
                ):
                    await eve.fill(f"#f-{field}", value)
                await eve.select_option("#f-language", "zh")
                await eve.select_option("#f-priority", "P2")
                await eve.click("#f-submit")
                await eve.wait_for_selector("#work")
                opened = re.search(r"/ui/tickets/(\d+)", eve.url)
                assert opened is not None, eve.url
                ticket_id = int(opened.group(1))
                await eve.fill("#reply-text", REPLY)
                await eve.click("#reply-send")
                await eve.fill("#note-text", INTERNAL)
                await eve.click("#note-save")
                await eve.wait_for_selector(".event-internal_note")
                assert await eve.is_hidden(".resolve-only")  # desk.js: the report fields only for "resolved"
                for state in ("diagnosing", "solution", "awaiting_confirmation"):
                    await eve.select_option("#transition-to", state)
                    await eve.select_option("#transition-solution", "configuration" if state == "solution" else "")
                    await eve.click("#transition-go")
                    await eve.wait_for_selector(f"text=to {state.replace('_', ' ')}")
                text = await _checked(eve, shots, "ticket")
                assert "public reply" in text.lower() and "internal note" in text.lower() and "CST" in text

                await eventually(lambda: len(servers.inbox.messages) >= 2, within=20)
                subjects = [m["Subject"] for m in servers.inbox.messages]
                assert (
                    f"我们已收到您的请求（工单 {ticket_id}）" in subjects
                    and f"工单 {ticket_id}：技术支持的回复" in subjects
                )
                assert all(INTERNAL not in plain(m) + html(m) for m in servers.inbox.messages)
                reply_mail = next(
                    m for m in servers.inbox.messages if m["Subject"] == f"工单 {ticket_id}：技术支持的回复"
                )
                assert REPLY in plain(reply_mail) and REPLY in html(reply_mail)

                carol = await sign_in("carol")
                await carol.wait_for_selector("#portal-tickets")
                await _checked(carol, shots, "portal-home")
                await carol.click(f"a[href='/portal/tickets/{ticket_id}']")
                text = await _checked(carol, shots, "portal-ticket")
                assert REPLY in text and INTERNAL not in await carol.content()
                shot = await carol.screenshot(type="jpeg")  # Chromium's own JPEG encoder
                await carol.set_input_files(
                    "#image-file", files=FilePayload(name="router.jpg", mimeType="image/jpeg", buffer=shot)
                )
                await carol.click("#image-send")
                await carol.wait_for_selector("img.shot")
                assert await carol.eval_on_selector("img.shot", "img => img.complete && img.naturalWidth") == 1280
                await carol.click("#confirm")
                await carol.wait_for_selector("#rate-link")
                await carol.click("#rate-link")
                await _checked(carol, shots, "portal-rate")
                await carol.check("#sat-5")
                await carol.fill("#rate-comment", "fixed in a day")
                await carol.click("#rate-send")
                await carol.wait_for_selector("text=fixed in a day")
                await _checked(carol, shots, "portal-rated")
                await carol.goto(f"{url}/ui/fleet")  # a desk page: the customer lands in the portal
                assert "/portal/" in carol.url

                await eve.reload()
                await _checked(eve, shots, "ticket-done")
                assert await eve.eval_on_selector("img.shot", "img => img.complete && img.naturalWidth") == 1280
                await eventually(
                    lambda: any(m["Subject"].startswith(f"工单 {ticket_id} 已解决") for m in servers.inbox.messages),
                    within=20,
                )
            finally:
                await browser.close()
        store = open_store(config)
        try:
            events = [e for e in store.ticket_events(ticket_id) if e.kind != "internal_note"]
        finally:
            store.close()
        await eventually(
            lambda: {d["event"]["id"] for d in servers.receiver.deliveries} >= {e.id for e in events}, within=20
        )
        assert all(INTERNAL not in str(d) for d in servers.receiver.deliveries)
        assert servers.receiver.rejected == 0  # every delivery carried a valid HMAC-SHA256 signature
        assert not errors, errors
    finally:
        await server.close()
