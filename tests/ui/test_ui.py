"""The engineer UI in headless Chromium: sign in, the queue, a ticket with its timeline chart, fleet, report."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS

from .conftest import Seeded

pytestmark = pytest.mark.browser


async def test_sign_in_queue_ticket_chart_fleet_report(seeded: Seeded, tmp_path: Path) -> None:
    collector, ticket_id = seeded.collector, seeded.ticket_id
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
            assert "first response" in await page.inner_text("#queue")
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
