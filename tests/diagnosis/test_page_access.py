"""Who may use the one-click page, and what its endpoints take: pairing (with the real CLI), the page's own
header on every POST, confirmation before remote access, bad input answered plainly. Loopback only: with
``web.pairing: always`` a loopback visitor is treated like a phone on the home network."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.web import OneClickPage
from agent.web.pairing import MAX_WRONG, PairingStore
from shared.models import utcnow
from tests.configs import LOCAL_PAGE, agent_config, agent_settings

AGENT = str(Path(sys.executable).with_name("homediag-agent"))
PAGE = {"X-Homediag-Page": "1"}


@pytest.fixture
async def paired_page(tmp_path: Path) -> AsyncIterator[tuple[OneClickPage, Path]]:
    settings_ = agent_settings(tmp_path / "state", web={**LOCAL_PAGE, "pairing": "always"})
    config_path = tmp_path / "agent.yaml"
    config_path.write_text(str(settings_).replace("'", '"'))
    async with OneClickPage(agent_config(**settings_)) as page:
        yield page, config_path


def _pair_code(config_path: Path) -> tuple[str, str]:
    printed = subprocess.run(
        [AGENT, "-c", str(config_path), "web", "pair", "--minutes", "5"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    code = re.search(r"pairing code: (\d{6})", printed)
    link = re.search(r"one-time link: (\S+)", printed)
    assert code and link, printed
    return code.group(1), link.group(1)


async def test_a_visitor_needs_a_pairing_code_that_works_once(paired_page) -> None:  # type: ignore[no-untyped-def]
    page, config_path = paired_page
    base = f"http://127.0.0.1:{page.port}"
    async with aiohttp.ClientSession() as neighbour:
        async with neighbour.get(base + "/", headers={"Accept-Language": "zh-CN"}) as answer:
            assert answer.status == 200 and "配对码" in await answer.text() and "检测我的家" not in await answer.text()
        async with neighbour.post(base + "/api/check", headers=PAGE) as answer:
            assert answer.status == 403
        async with neighbour.post(base + "/pair", data={"code": "000000"}) as answer:
            assert answer.status == 403 and "not valid" in await answer.text()

    code, link = _pair_code(config_path)
    assert link.startswith("http://127.0.0.1:") and link.endswith(f"/pair?code={code}")
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as phone:  # cookies for an IP host, like browsers
        async with phone.get(base + f"/pair?code={code}") as answer:
            assert answer.status == 200 and "Check my home" in await answer.text()  # redirected to the page
        async with phone.post(base + "/api/check", headers=PAGE) as answer:
            assert answer.status == 202
    async with aiohttp.ClientSession() as neighbour, neighbour.get(base + f"/pair?code={code}") as answer:
        assert answer.status == 403  # spent


async def test_wrong_guesses_void_every_open_code(tmp_path: Path) -> None:
    store, now = PairingStore(tmp_path), utcnow()
    code = store.new_code(10, now).code
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(MAX_WRONG):
        assert store.pair(wrong, now) is None
    assert store.pair(code, now) is None
    fresh = store.new_code(10, now).code
    token = store.pair(fresh, now)
    assert token and store.valid(token, now) and not store.valid(token + "x", now)
    assert (
        code not in (tmp_path / "web-pairing.json").read_text()
        and token not in (tmp_path / "web-pairing.json").read_text()
    )


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=40))
def test_any_pairing_input_is_just_wrong(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    store = PairingStore(tmp_path_factory.mktemp("pair"))
    store.new_code(10, utcnow())
    assert store.pair(text, utcnow()) is None or len(text.strip()) == 6


async def test_posts_need_the_page_header_and_allowing_support_needs_confirmation(tmp_path: Path) -> None:
    config = agent_config(tmp_path / "state", web=LOCAL_PAGE)
    async with OneClickPage(config) as page, aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{page.port}"
        async with session.post(base + "/api/consent", data={"mode": "allowed", "confirm": "yes"}) as answer:
            assert answer.status == 403  # a foreign web page cannot send the header without asking first
        async with session.post(base + "/api/consent", headers=PAGE, data={"mode": "allowed"}) as answer:
            assert answer.status == 400 and page.consent.current().mode == "off"
        async with session.post(
            base + "/api/consent", headers=PAGE, data={"mode": "grant", "confirm": "yes"}
        ) as answer:
            body = await answer.json()
            assert answer.status == 200 and body["text"].startswith("Support may look until")
        assert page.consent.current().mode == "ask" and page.consent.current().allows(utcnow())
        for bad in ({"mode": "sometimes"}, {}):
            async with session.post(base + "/api/consent", headers=PAGE, data=bad) as answer:
                assert answer.status == 400
        async with session.post(base + "/api/check/nope/send", headers=PAGE) as answer:
            assert answer.status == 404
        async with session.get(base + "/api/check/nope") as answer:
            assert answer.status == 404
