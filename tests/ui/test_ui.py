"""The engineer UI in headless Chromium: sign in, the queue, a ticket with its timeline chart, fleet, report."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from agent.diagnosis import diagnose
from lab.collector_process import CollectorProcess
from shared.bundle import build_bundle
from shared.models import CaptureWindow, EventKind, LogLine, RedactionSummary, Trigger, TriggerKind, utcnow
from shared.profiles import load_profiles
from shared.signing import generate_private_key, public_key_to_text
from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.diagnosis.test_engine import HOME, ev, router_reboot

pytestmark = pytest.mark.browser


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[tuple[CollectorProcess, int]]:
    require_chromium()
    collector = CollectorProcess(tmp_path / "collector")
    collector.start()
    try:
        collector.admin("user", "create", "--name", "eve", "--role", "engineer", "--password", "s3cret-pass")
        engineer = collector.admin("user", "create", "--name", "api", "--role", "engineer").split()[-1]
        token = collector.admin("token", "create", "--household", "hh-ui").split()[-1]
        key = generate_private_key()
        status, body = collector.request(
            "POST",
            "/api/v1/enroll",
            body={"token": token, "public_key": public_key_to_text(key.public_key()), "hostname": "hub"},
        )
        agent_id = json.loads(body)["agent_id"]
        status, ticket = collector.request(
            "POST",
            "/api/v1/tickets",
            token=engineer,
            body={
                "household": "hh-ui",
                "device": "curtain",
                "symptom": "the curtain ignores the app at night",
                "when": "every night around 03:00",
                "priority": "P2",
            },
        )
        ticket_id = json.loads(ticket)["id"]
        now = utcnow()
        start = now - timedelta(minutes=30)
        events = router_reboot(start + timedelta(minutes=10), seconds=240, devices={"curtain": 20, "plug": 60})
        events.append(
            ev(start + timedelta(minutes=20), EventKind.DEVICE_REBOOT, "rebooted", "plug", reason="Exception")
        )
        events.append(ev(start + timedelta(minutes=15), EventKind.FAULT, "closed", signature="router_reboot"))
        # A log line from arendst/Tasmota#13196 names the tasmota-mqtt-network-unreachable known issue.
        tasmota_log = LogLine(
            ts=start + timedelta(minutes=12),
            source="tasmota",
            device_id="plug",
            message="MQT: Connect failed to 192.168.99.6:1883, rc -2. Retry in 10 sec",
        )
        report = diagnose(events, HOME, {}, load_profiles(), now, logs=[tasmota_log])
        _, data = build_bundle(
            files={
                "timeline.jsonl": "".join(e.model_dump_json() + "\n" for e in events).encode(),
                "inventory.json": HOME.model_dump_json().encode(),
                "diagnosis.json": report.model_dump_json().encode(),
            },
            agent_id=agent_id,
            household="hh-ui",
            trigger=Trigger(kind=TriggerKind.FAULT, signature="router_reboot"),
            window=CaptureWindow(start=start, end=now),
            redaction=RedactionSummary(),
            private_key=key,
        )
        status, _ = collector.request(
            "POST", "/api/v1/bundles", data=data, content_type="application/vnd.homediag.bundle+gzip"
        )
        assert status == 201
        yield collector, ticket_id
    finally:
        collector.stop()


async def test_sign_in_queue_ticket_chart_fleet_report(seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    collector, ticket_id = seeded
    shots = Path(os.environ.get("HOMEDIAG_SCREENSHOT_DIR", tmp_path))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
            blocked: list[str] = []  # the Content-Security-Policy allows no inline script or style: nothing may need it
            page.on(
                "console",
                lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None,
            )
            await page.goto(f"{collector.url}/ui/")
            assert "/ui/login" in page.url
            await page.fill("#name", "eve")
            await page.fill("#password", "wrong")
            await page.click("#sign-in")
            assert await page.is_visible("#login-error")
            await page.fill("#name", "eve")
            await page.fill("#password", "s3cret-pass")
            await page.click("#sign-in")
            await page.wait_for_selector("#queue")
            forged = await page.request.post(f"{collector.url}/ui/logout", form={"csrf": "forged"}, max_redirects=0)
            assert forged.status == 403  # signed in, but the form lacks the session's CSRF token
            assert await page.locator(f"tr[data-ticket='{ticket_id}']").count() == 1
            assert "first_response" in await page.inner_text("#queue")
            await page.screenshot(path=str(shots / "ui-queue.png"))

            await page.click(f"a[href='/ui/tickets/{ticket_id}']")
            await page.wait_for_selector("svg.timeline")
            lanes = await page.eval_on_selector_all("svg.timeline g.lane", "gs => gs.map(g => g.dataset.lane)")
            assert lanes[:5] == ["hub_link", "gateway", "dns", "internet", "broker"] and "curtain" in lanes
            assert await page.locator("svg.timeline rect.outage").count() >= 4
            assert await page.locator("svg.timeline path.reboot").count() == 1
            assert await page.locator("svg.timeline line.fault").count() == 1
            assert "verified" in await page.inner_text(".bundle h2")
            diagnosis = await page.inner_text("#diagnosis")
            assert "router" in diagnosis.lower() and "% confidence" in diagnosis and "evidence events" in diagnosis
            await page.screenshot(path=str(shots / "ui-ticket.png"), full_page=True)
            before = await page.get_attribute("svg.timeline", "viewBox")
            await page.click(".zoom-in")
            assert await page.get_attribute("svg.timeline", "viewBox") != before

            await page.click("a[href$='timeline.jsonl']")
            assert "gateway" in await page.inner_text("body")
            await page.goto(f"{collector.url}/ui/fleet")
            assert "router_reboot" in await page.inner_text("#fleet")
            known = page.locator("#known-issues tr[data-issue='tasmota-mqtt-network-unreachable'] td")
            # households this week, the week before, trend, bundles this week, fixed in, source
            assert [await known.nth(n).inner_text() for n in (1, 2, 3)] == ["1", "0", "▲ +1"]
            assert "arendst/Tasmota" in await known.nth(6).inner_text()
            firmware = await page.inner_text("#firmware")  # causes with the device they concern: the plug
            assert "tasmota\t?\t14.4.1\tfirmware_known_issue\t1\t0" in firmware, firmware
            await page.goto(f"{collector.url}/ui/reports")
            assert "P2" in await page.inner_text("#report")
            await page.screenshot(path=str(shots / "ui-report.png"))
            assert blocked == []
        finally:
            await browser.close()
    audit = collector.admin("audit", "--limit", "50")
    assert '"ui.login_failed"' in audit and '"ui.login"' in audit and '"bundle.read"' in audit
