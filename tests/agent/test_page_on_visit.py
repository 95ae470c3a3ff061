"""The one-click page's port is open from the start and its server loads at the first visitor; a page that
cannot load closes the port (the visitor is refused, not left waiting) and the agent goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from agent.config import AgentConfig
from agent.page_on_visit import PageOnVisit


def _config(tmp_path: Path) -> AgentConfig:
    return AgentConfig.model_validate({"state_dir": str(tmp_path), "web": {"port": 0}})


async def test_the_first_visitor_is_served_by_the_page_loaded_for_it(tmp_path: Path) -> None:
    async with PageOnVisit(_config(tmp_path)) as lazy:
        assert lazy.page is None
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{lazy.port}/") as response:
            assert response.status == 200
            assert "<html" in (await response.text()).lower()
        assert lazy.page is not None


async def test_a_page_that_cannot_load_closes_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from agent.web import OneClickPage

    async def broken(self: OneClickPage) -> OneClickPage:
        raise RuntimeError("templates missing")

    monkeypatch.setattr(OneClickPage, "__aenter__", broken)
    async with PageOnVisit(_config(tmp_path)) as lazy:
        reader, writer = await asyncio.open_connection("127.0.0.1", lazy.port)  # waits in the backlog, wakes the page
        try:
            assert await asyncio.wait_for(reader.read(), 5) == b""  # let go when the port closes
        except ConnectionResetError:
            pass
        finally:
            writer.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", lazy.port)
        assert lazy.page is None
    assert "one-click page could not be loaded" in caplog.text
