"""Helpdesk connector tests: a real collector on loopback (as in tests/collector), a real Request Tracker started
once per session, and the helpers both kinds of tests share (a signed bundle with a diagnosis, waiting)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.app import create_app
from shared.models import DiagnosisReport, Explanation, Finding, Priority, RootCause
from tests.collector.conftest import NOW, Agent, Collector, ManualClock
from tests.configs import collector_config

from .rt_server import RtServer, available, start_rt

# Helpdesk servers (a real RT among them) answer slowly on a shared machine.
CONNECTOR_WAIT_S = 30

PUBLIC_URL = "https://support.homediag.test"


@pytest.fixture(scope="session")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtServer]:
    """One Request Tracker for the whole session (it takes seconds to start); stopped and removed afterwards."""
    reason = available()
    if reason is not None:
        pytest.skip(reason)
    server = start_rt(tmp_path_factory.mktemp("rt"))
    try:
        yield server
    finally:
        server.stop()


def diagnosis_json() -> bytes:
    finding = Finding(
        root_cause=RootCause.ROUTER_REBOOT,
        confidence=0.92,
        title="The router restarted",
        explanation=Explanation(
            symptom="Every device dropped off the network at 03:12.",
            root_cause="The router rebooted; the hub lost its uplink for 94 s.",
            solution="Check the router's power supply and its scheduled-restart setting.",
            risk="Low: devices reconnected by themselves.",
        ),
        translations={
            "zh": Explanation(
                symptom="所有设备在 03:12 掉线。", root_cause="路由器重启。", solution="检查路由器电源。", risk="低。"
            )
        },
    )
    report = DiagnosisReport(
        generated_at=NOW, verdict=RootCause.ROUTER_REBOOT, priority=Priority.P2, findings=[finding]
    )
    return report.model_dump_json().encode()


def signed_bundle(agent: Agent, padding: int = 0) -> bytes:
    """A real signed bundle with a diagnosis; ``padding`` bytes of incompressible data make it large."""
    files = {
        "host.json": b'{"os": "linux"}',
        "timeline.jsonl": b"",
        "diagnosis.json": diagnosis_json(),
    }
    if padding:
        files["logs/noise.bin"] = base64.b64encode(bytes(range(256)) * (padding // 256 + 1))[:padding]
    return agent.bundle(start=NOW - timedelta(minutes=20), end=NOW - timedelta(minutes=10), files=files)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def collector(tmp_path: Path, config_overrides: dict[str, Any]) -> AsyncIterator[Collector]:
    overrides = {"notify": {"public_url": PUBLIC_URL, "poll_interval_s": 0.05, "backoff_s": 1}} | config_overrides
    config = collector_config(tmp_path, **overrides)
    clock = ManualClock(NOW)
    app = create_app(config, clock=clock, monotonic_clock=clock.monotonic)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Collector(client, config, clock)


class RtApi:
    """The test's own view into RT (REST 2, as an RT agent would look)."""

    def __init__(self, server: RtServer, session: aiohttp.ClientSession) -> None:
        self.base = server.url + "/REST/2.0"
        self.session = session
        self.headers = {"Authorization": f"token {server.token}"}

    async def get(self, path: str, **params: str) -> Any:
        async with self.session.get(self.base + path, params=params, headers=self.headers) as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()

    async def send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        async with self.session.request(method, self.base + path, json=body, headers=self.headers) as answer:
            assert answer.status < 300, await answer.text()
            return await answer.json()

    async def search(self, query: str) -> list[dict[str, Any]]:
        return (await self.get("/tickets", query=query, fields="id"))["items"]  # type: ignore[no-any-return]

    async def history(self, ticket: str) -> list[dict[str, Any]]:
        items = (await self.get(f"/ticket/{ticket}/history", per_page="100", fields="Type,Content,Created"))["items"]
        return items  # type: ignore[no-any-return]

    async def attachments(self, transaction: str) -> list[dict[str, Any]]:
        found = await self.get(f"/transaction/{transaction}/attachments", fields="Filename,ContentType,Content")
        return found["items"]  # type: ignore[no-any-return]

    async def field(self, ticket: str, name: str) -> list[str]:
        data = await self.get(f"/ticket/{ticket}")
        return next((cf["values"] for cf in data["CustomFields"] if cf["name"] == name), [])

    async def download(self, attachment: str) -> bytes:
        return base64.b64decode((await self.get(f"/attachment/{attachment}"))["Content"])


@pytest.fixture
async def rt_api(rt: RtServer) -> AsyncIterator[RtApi]:
    async with aiohttp.ClientSession() as session:
        yield RtApi(rt, session)
