"""The local one-click page in headless Chromium: one button, progress, the answer, consent, the ticket number."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import async_playwright

from agent.config import AgentConfig
from agent.runtime import AgentRuntime
from agent.web import OneClickPage
from lab.collector_process import CollectorProcess
from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

pytestmark = pytest.mark.browser

AGENT = str(Path(sys.executable).with_name("homediag-agent"))


@pytest.fixture
async def page_and_collector(tmp_path: Path) -> AsyncIterator[tuple[OneClickPage, CollectorProcess]]:
    require_chromium()
    collector = CollectorProcess(tmp_path / "collector")
    collector.start()
    try:
        token = collector.admin("token", "create", "--household", "hh-page").split()[-1]
        config_path = tmp_path / "agent.yaml"
        config_path.write_text(f"state_dir: {tmp_path / 'state'}\ncollector: {{url: '{collector.url}'}}\n"
                               "discovery: {mdns: false, arp: false}\nweb: {host: 127.0.0.1, port: 0}\n")
        subprocess.run([AGENT, "-c", str(config_path), "enroll", "--token", token], check=True, capture_output=True, timeout=60)
        config = AgentConfig.model_validate({"state_dir": str(tmp_path / "state"), "collector": {"url": collector.url},
                                             "discovery": {"mdns": False, "arp": False},
                                             "web": {"host": "127.0.0.1", "port": 0}})
        async with OneClickPage(config) as page:
            yield page, collector
    finally:
        collector.stop()


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
async def test_one_click_check_send_and_consent(page_and_collector, tmp_path: Path, locale: str) -> None:  # type: ignore[no-untyped-def]
    page_server, collector = page_and_collector
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(locale=locale)
            page = await context.new_page()
            await page.goto(f"http://127.0.0.1:{page_server.port}/")
            await page.click("#check")
            await page.wait_for_selector(".finding", timeout=20_000)
            text = await page.inner_text("#result")
            assert ("Everything works." if locale == "en-GB" else "一切正常。") in text
            assert "Nothing to do" in text if locale == "en-GB" else "无需处理" in text
            shot = Path(os.environ.get("HOMEDIAG_SCREENSHOT_DIR", tmp_path)) / f"one-click-{locale}.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 5_000

            await page.check("#consent-send")
            await page.click("#send")
            await page.wait_for_selector("#ticket:not([hidden])", timeout=30_000)
            ticket = await page.inner_text("#ticket")
            assert any(char.isdigit() for char in ticket), ticket

            async with page.expect_response("**/api/consent"):
                await page.check("input[name=remote][value=allowed]")
        finally:
            await browser.close()
    assert page_server.consent.current().mode == "allowed"


async def test_the_running_agent_serves_the_page(tmp_path: Path) -> None:
    config = AgentConfig.model_validate({"state_dir": str(tmp_path / "state"), "discovery": {"mdns": False, "arp": False},
                                         "web": {"host": "127.0.0.1", "port": 0}})
    async with AgentRuntime(config) as runtime:
        assert runtime.page is not None
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{runtime.page.port}/",
                                                                   headers={"Accept-Language": "zh-CN"}) as answer:
            assert answer.status == 200 and "检测我的家" in await answer.text()
