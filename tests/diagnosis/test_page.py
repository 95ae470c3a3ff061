"""The local one-click page in headless Chromium (one browser per test, pages in parallel).

- The gallery: every state (before, progress, each root cause, healthy, the click during a router restart,
  remote-access confirmation) in English and Simplified Chinese at desktop and phone width, each page checked
  for layout errors (nothing wider than the screen, no clipped text) and untranslated text, and screenshot
  (``HOMEDIAG_SCREENSHOT_DIR=docs/img`` keeps them).
- The real flow: the real self-check against a real collector, sending online (a new ticket), again (joins the
  open ticket; the same result twice says so), and offline (saved, then the ticket number once the collector
  is back), with the click times printed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from agent.config import AgentConfig
from agent.runtime import AgentRuntime
from agent.web import OneClickPage
from collector.store import Store
from collector.store.backends.sqlite import SqliteBackend
from lab.collector_process import CollectorProcess
from shared.models import DiagnosisReport
from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.configs import LOCAL_PAGE, NO_LAN_SCAN, agent_config, agent_settings
from tests.diagnosis.language import han, untranslated
from tests.diagnosis.page_states import NOW, every_finding, every_state, inventory

pytestmark = pytest.mark.browser

AGENT = str(Path(sys.executable).with_name("homediag-agent"))
LOCALES = {"en": "en-GB", "zh": "zh-CN"}
WIDTHS: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
DEVICE_NAMES = {d.name or "" for d in inventory().devices} | {"Bedroom"}
PARALLEL = 4
ALWAYS = ("before", "progress", "healthy", "mid_router_restart", "consent", "every_finding")

# Run in the page: what does not fit the screen, what is cut off.
LAYOUT_ERRORS = """() => {
  const errors = [], width = window.innerWidth;
  if (document.documentElement.scrollWidth > width + 1) errors.push(`page wider than the screen: ${document.documentElement.scrollWidth} > ${width}`);
  for (const el of document.querySelectorAll("h1, h2, p, dd, dt, li, button, label, .card, section, textarea, summary")) {
    const box = el.getBoundingClientRect();
    if (!box.width) continue;
    if (box.right > width + 1 || box.left < -1) errors.push(`${el.tagName} ${el.className} outside the screen: ${box.left}..${box.right}`);
    if (el.scrollWidth > el.clientWidth + 2 && getComputedStyle(el).overflowX !== "visible") errors.push(`${el.tagName} clipped`);
  }
  return errors;
}"""


def _shots() -> Path | None:
    value = os.environ.get("HOMEDIAG_SCREENSHOT_DIR")
    return Path(value) if value else None


async def _check_page(page: Page, language: str, name: str, out: Path | None) -> None:
    errors = await page.evaluate(LAYOUT_ERRORS)
    assert errors == [], (name, errors)
    text = await page.inner_text("body")
    if language == "zh":
        assert untranslated(text, DEVICE_NAMES) == [], (name, untranslated(text, DEVICE_NAMES))
    else:
        assert han(text) == [], name
    if out is not None:
        await page.screenshot(path=str(out / f"one-click-{name}.png"), full_page=True)


def _fixed_check(report: DiagnosisReport, gate: asyncio.Event | None = None) -> Callable[..., Any]:
    async def check(config: AgentConfig, progress: Callable[[str], None]) -> tuple[DiagnosisReport, dict[str, bytes]]:
        progress("network")
        if gate is not None:
            await gate.wait()
        progress("analysis")
        weak = any(f.root_cause.value == "wifi_weak_signal" for f in report.findings)
        return report, {"inventory.json": inventory(weak=weak).model_dump_json().encode()}

    return check


async def _new_page(browser: Browser, language: str, width: str) -> Page:
    context = await browser.new_context(locale=LOCALES[language], viewport=WIDTHS[width])
    return await context.new_page()


async def test_every_state_in_both_languages_and_widths_fits_and_is_translated(tmp_path: Path) -> None:
    require_chromium()
    out = _shots()  # screenshots on demand: the checks run on every page either way
    states = every_state()
    states["every_finding"] = every_finding(states)
    gate = asyncio.Event()  # holds the "progress" page's check in its first step
    limit = asyncio.Semaphore(PARALLEL)
    tz = timezone(timedelta(hours=8))
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        servers: dict[str, OneClickPage] = {}
        for name, report in {**states, "progress": states["healthy"]}.items():
            config = agent_config(tmp_path / name, web=LOCAL_PAGE)
            check = _fixed_check(report, gate if name == "progress" else None)
            servers[name] = await stack.enter_async_context(OneClickPage(config, check=check, now=lambda: NOW, tz=tz))
        playwright = await stack.enter_async_context(async_playwright())
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.push_async_callback(browser.close)

        contexts = {
            (lang, width): await browser.new_context(locale=LOCALES[lang], viewport=WIDTHS[width])
            for lang in LOCALES
            for width in WIDTHS
        }

        async def one(name: str, language: str, width: str) -> None:
            async with limit:
                page = await contexts[language, width].new_page()
                try:
                    await page.goto(f"http://127.0.0.1:{servers[name].port}/")
                    if name == "before":
                        return await _check_page(page, language, f"before-{language}-{width}", out)
                    await page.click("#check")
                    if name == "progress":
                        await page.wait_for_function("document.getElementById('progress').textContent.length > 3")
                        return await _check_page(page, language, f"progress-{language}-{width}", out)
                    await page.wait_for_selector("body[data-state=answer], body[data-state=healthy]", timeout=15_000)
                    if name == "consent":
                        await page.check("input[name=remote][value=grant]")
                        await page.wait_for_selector("#confirm:not([hidden])")
                        await _check_page(page, language, f"consent-{language}-{width}", out)
                        await page.click("#confirm-yes")
                        # The page writes the answer's text after the response has arrived: wait for the text.
                        await expect(page.locator("#consent-state")).to_contain_text("01:39")  # one hour, their clock
                        return
                    await page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
                    await _check_page(page, language, f"{name}-{language}-{width}", out)
                    if name == "mid_router_restart":
                        first = await page.inner_text(".card.now")
                        assert (
                            ("right now" in first and "wait two minutes" in first)
                            if language == "en"
                            else ("现在" in first and "等两分钟" in first)
                        )
                finally:
                    await page.close()

        names = ["before", "consent", *states]
        servers["before"] = servers["consent"] = servers["healthy"]
        # Every state at both widths when screenshots are wanted; otherwise the page's main moments and one page
        # with every finding's card at once (the suite's time is shared).
        runs = [
            (name, lang, width)
            for name in ["progress", *names]
            for lang in LOCALES
            for width in WIDTHS
            if out is not None or name in ALWAYS
        ]
        progress = [asyncio.create_task(one(*run)) for run in runs if run[0] == "progress"]
        await asyncio.gather(*(one(*run) for run in runs if run[0] != "progress"))
        gate.set()
        await asyncio.gather(*progress)
    print(f"\n{len(runs)} pages ({len(names) + 1} states) checked in {time.monotonic() - started:.1f} s")


@pytest.fixture
def enrolled(tmp_path: Path) -> Iterator[tuple[AgentConfig, CollectorProcess]]:
    require_chromium()
    collector = CollectorProcess(tmp_path / "collector")
    collector.start()
    try:
        token = collector.admin("token", "create", "--household", "hh-page").split()[-1]
        settings = agent_settings(
            tmp_path / "state",
            collector={"url": collector.url},
            discovery=NO_LAN_SCAN,
            web={**LOCAL_PAGE, "send_wait_s": 1.0},
            upload={"backoff_initial_s": 0.2, "backoff_max_s": 1.0},
        )
        (tmp_path / "agent.yaml").write_text(str(settings).replace("'", '"'))
        subprocess.run(
            [AGENT, "-c", str(tmp_path / "agent.yaml"), "enroll", "--token", token],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield agent_config(**settings), collector
    finally:
        collector.stop()


async def _click_and_wait(page: Page) -> float:
    started = time.monotonic()
    await page.click("#check")
    await page.wait_for_selector("body[data-state=answer], body[data-state=healthy]", timeout=30_000)
    return time.monotonic() - started


async def _send(page: Page, note: str) -> str:
    await page.fill("#note", note)
    await page.check("#consent-send")
    await page.click("#send")
    return await page.inner_text("#message")  # at once, before the collector answered


async def test_real_check_sent_online_again_and_offline_follows_to_the_ticket(enrolled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, collector = enrolled
    out = _shots()
    clicks: list[float] = []
    async with OneClickPage(config, follow_every_s=0.5) as server, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pages = {lang: await _new_page(browser, lang, "desktop") for lang in LOCALES}
            for page in pages.values():
                await page.goto(f"http://127.0.0.1:{server.port}/")
            en, zh = pages["en"], pages["zh"]

            # Online: a new ticket, then the same result again says it was already sent.
            clicks.append(await _click_and_wait(en))
            assert await _send(en, "The hall light does not answer") == "Sending…"
            await en.wait_for_selector("#message.ok", timeout=30_000)
            sent = await en.inner_text("#message")
            ticket = sent.split("ticket number is ")[1].split(".")[0]
            assert ticket.isdigit(), sent
            await _check_page(en, "en", "sent-en-desktop", out)
            job = next(iter(server.jobs))
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"http://127.0.0.1:{server.port}/api/check/{job}/send", headers={"X-Homediag-Page": "1"}
                ) as again,
            ):
                repeat = await again.json()
            assert repeat["repeat"] and "already sent" in repeat["text"] and ticket in repeat["text"]
            store = Store(SqliteBackend(collector.data_dir / "collector.sqlite3"))
            try:
                symptom = store.get_ticket(int(ticket)).intake.symptom  # type: ignore[union-attr]
            finally:
                store.close()
            assert symptom.startswith("Customer: The hall light does not answer ")

            # Offline: saved at once (amber), followed until the collector is back, then the ticket number.
            collector.stop()
            clicks += await asyncio.gather(_click_and_wait(en), _click_and_wait(zh))
            said = await asyncio.gather(_send(en, ""), _send(zh, "灯不亮"))
            assert said == ["Sending…", "正在发送…"]
            for lang, page in pages.items():
                await page.wait_for_selector("#message.healed", timeout=30_000)
                await _check_page(page, lang, f"offline-send-{lang}-desktop", out)
                await page.set_viewport_size(WIDTHS["phone"])
                await _check_page(page, lang, f"offline-send-{lang}-phone", out)
            assert "Saved — it will be sent automatically" in await en.inner_text("#message")
            collector.start()
            back = time.monotonic()
            for lang, page in pages.items():
                await page.wait_for_selector("#message.ok", timeout=30_000)
                await _check_page(page, lang, f"offline-delivered-{lang}-phone", out)
            delivered_after = time.monotonic() - back
            assert f"Added to your open ticket {ticket}" in await en.inner_text("#message")
            assert f"工单 {ticket}" in await zh.inner_text("#message")
        finally:
            await browser.close()
    print(
        f"\nclick times (check to answer): {', '.join(f'{c:.1f} s' for c in clicks)}; "
        f"offline sends shown delivered {delivered_after:.1f} s after the collector was back"
    )


async def test_the_running_agent_serves_the_page(tmp_path: Path) -> None:
    config = agent_config(tmp_path / "state", discovery=NO_LAN_SCAN, web=LOCAL_PAGE)
    async with AgentRuntime(config) as runtime:
        assert runtime.page is not None
        assert runtime.page.page is None  # the port is open; the page's server loads for its first visitor
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{runtime.page.port}/", headers={"Accept-Language": "zh-CN"}) as answer,
        ):
            assert answer.status == 200 and "检测我的家" in await answer.text()
        assert runtime.page.page is not None
