"""The click during a real router restart, in the namespace home: Chromium runs in the hub's namespace and opens
the running agent's page on the hub's own loopback, 4 s into the restart and again once it is over.

During the restart the page must say what fails now, in the present tense, with what to do now, and conclude
nothing; afterwards it says the router restarted, when and for how long, and that it works again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from collector.store import Store
from collector.store.backends.sqlite import SqliteBackend
from lab.agent_process import AgentProcess
from lab.home import LabHome
from lab.scenarios import DEVICES, ONLINE
from shared.models import EventKind, EventState
from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

pytestmark = [pytest.mark.lab, pytest.mark.browser, pytest.mark.slow]

PORT = 8471  # the hub namespace's own loopback: nobody else's port
RESTART_S = 30.0


def _chromium_in(ns: str, tmp: Path) -> str:
    wrapper = tmp / "chromium-in-hub"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def _click(page: Page) -> float:
    started = time.monotonic()
    page.click("#check")
    page.wait_for_selector("body[data-state=answer], body[data-state=healthy]", timeout=60_000)
    return time.monotonic() - started


def test_a_click_during_a_router_restart_says_what_fails_now(
    lab_factory: Callable[..., LabHome], tmp_path: Path
) -> None:
    require_chromium()
    lab = lab_factory(devices=DEVICES, upnp=True)
    lab.start_broker()
    agent = AgentProcess.create(
        lab,
        tmp_path,
        after_s=3.0,
        group_window_s=30.0,
        extra={"web": {"enabled": True, "host": "127.0.0.1", "port": PORT}},
    )
    agent.start()
    agent.wait_ready(ONLINE)
    shots = os.environ.get("HOMEDIAG_SCREENSHOT_DIR")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium_in(lab.hub_ns, tmp_path), args=CHROMIUM_ARGS)
        try:
            pages = {}
            for language, locale in (("en", "en-GB"), ("zh", "zh-CN")):
                pages[language] = browser.new_context(locale=locale).new_page()
                pages[language].goto(f"http://127.0.0.1:{PORT}/")
            fault = lab.faults.router_reboot(RESTART_S)
            time.sleep(4)
            during = {language: _click(page) for language, page in pages.items()}
            assert fault.active, "the restart ended before the clicks finished"
            en, zh = pages["en"].inner_text("#result"), pages["zh"].inner_text("#result")
            now_en = pages["en"].inner_text(".card.now")
            assert "right now" in now_en and "wait two minutes" in now_en, en
            assert "现在" in pages["zh"].inner_text(".card.now") and "等两分钟" in zh, zh
            for wrong in (
                "nothing shows that the router restarted",
                "cut off from the network for",
                "没有迹象表明路由器重启",
            ):
                assert wrong not in en and wrong not in zh
            if shots:
                for language, page in pages.items():
                    page.screenshot(path=f"{shots}/one-click-live-router-restarting-{language}.png", full_page=True)

            # Sent during the restart: saved on the hub, provisional, delivered once the router is back.
            en_page = pages["en"]
            en_page.fill("#note", "Nothing responds")
            en_page.check("#consent-send")
            en_page.click("#send")
            assert en_page.inner_text("#message") == "Sending…"
            en_page.wait_for_selector("#message.healed", timeout=30_000)
            assert fault.active and "Saved" in en_page.inner_text("#message")
            if shots:
                en_page.screenshot(path=f"{shots}/one-click-live-send-during-restart-en.png", full_page=True)

            fault.wait(RESTART_S + 30)
            en_page.wait_for_selector("#message.ok", timeout=60_000)
            ticket = int(en_page.inner_text("#message").split("ticket number is ")[1].split(".")[0])
            # The fault bundle of the restart joins the provisional ticket and says what happened.
            fault_bundle = agent.wait_bundle("router_reboot", timeout=60)
            assert fault_bundle["ticket_id"] == ticket
            store = Store(SqliteBackend(agent.collector.data_dir / "collector.sqlite3"))
            try:
                intake = store.get_ticket(ticket).intake  # type: ignore[union-attr]
            finally:
                store.close()
            assert intake.symptom.startswith("Customer: Nothing responds Provisional, sent during an outage"), (
                intake.symptom
            )

            agent.wait_event(lambda e: e.kind is EventKind.FAULT and e.state is EventState.CLOSED, 60)
            agent.wait_ready(ONLINE, timeout=60)
            after = {language: _click(page) for language, page in pages.items()}
            card = pages["en"].inner_text(".card.healed")
            assert "Your router restarted" in card and "seconds" in card and "It works again now." in card, card
            assert not pages["en"].query_selector(".card.now")
            assert "路由器重启了" in pages["zh"].inner_text(".card.healed")
            if shots:
                for language, page in pages.items():
                    page.screenshot(path=f"{shots}/one-click-live-router-restarted-{language}.png", full_page=True)
        finally:
            browser.close()
            agent.close()
    print(f"\nclick to answer during the restart: {during}; after it: {after}")
