"""Signed test bundles and a tiny scripted collector stand-in (a real aiohttp server on loopback)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.bundle import build_bundle
from shared.models import BundleManifest, CaptureWindow, RedactionSummary, Trigger, TriggerKind, utcnow
from shared.signing import generate_private_key

MakeBundle = Callable[..., tuple[BundleManifest, bytes]]


@pytest.fixture(scope="session")
def signing_key():
    return generate_private_key()


@pytest.fixture
def make_bundle(signing_key) -> MakeBundle:
    def make(
        *, urgent: bool = False, signature: str | None = None, payload: bytes = b"x" * 100
    ) -> tuple[BundleManifest, bytes]:
        now = utcnow()
        return build_bundle(
            files={"host.json": b'{"ok": true}', "logs/pad.txt": payload},
            agent_id="agent-test",
            household="hh-test",
            trigger=Trigger(
                kind=TriggerKind.FAULT if signature else TriggerKind.MANUAL, signature=signature, urgent=urgent
            ),
            window=CaptureWindow(start=now - timedelta(minutes=1), end=now),
            redaction=RedactionSummary(),
            private_key=signing_key,
        )

    return make


Answer = Callable[[int, bytes], Awaitable[web.Response]]


@dataclass
class ScriptedCollector:
    """Answers ``POST /api/v1/bundles`` with ``answer(request_number, body)``; records every request."""

    answer: Answer
    url: str = ""
    received: list[tuple[float, bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((time.monotonic(), body))
        return await self.answer(len(self.received), body)


@pytest.fixture
async def scripted_collector() -> AsyncIterator[Callable[[Answer], Awaitable[ScriptedCollector]]]:
    servers: list[TestServer] = []

    async def start(answer: Answer) -> ScriptedCollector:
        collector = ScriptedCollector(answer)
        app = web.Application()
        app.router.add_post("/api/v1/bundles", collector.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        collector.url = str(server.make_url("")).rstrip("/")
        return collector

    yield start
    for server in servers:
        await server.close()
    await asyncio.sleep(0)
