"""A real collector app on a loopback port (aiohttp's TestServer), with helpers for agents, users and bundles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.app import create_app
from collector.config import CollectorConfig
from collector.models import Role
from collector.store import Store, open_store
from shared.bundle import build_bundle
from shared.models import CaptureWindow, RedactionSummary, Trigger, TriggerKind
from shared.settings import deep_merge
from shared.signing import generate_private_key, public_key_to_text
from tests.configs import collector_config

BUNDLE_TYPE = "application/vnd.homediag.bundle+gzip"


class ManualClock:
    """Wall and monotonic time that only moves when a test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


@dataclass
class Agent:
    agent_id: str
    household: str
    key: Ed25519PrivateKey

    def bundle(
        self,
        *,
        start: datetime,
        end: datetime | None = None,
        trigger: Trigger | None = None,
        files: dict[str, bytes] | None = None,
        **overrides: Any,
    ) -> bytes:
        arguments: dict[str, Any] = dict(
            files=files or {"host.json": b'{"os": "linux"}', "timeline.jsonl": b""},
            agent_id=self.agent_id,
            household=self.household,
            trigger=trigger or Trigger(kind=TriggerKind.FAULT, signature="router_reboot"),
            window=CaptureWindow(start=start, end=end or start + timedelta(minutes=10)),
            redaction=RedactionSummary(),
            private_key=self.key,
        )
        return build_bundle(**(arguments | overrides))[1]


@dataclass
class Collector:
    client: TestClient
    config: CollectorConfig
    clock: ManualClock
    tokens: dict[str, str] = field(default_factory=dict)

    def store(self) -> Store:
        """The same database the app uses, opened as the admin CLI opens it."""
        return open_store(self.config)

    def user(self, name: str, role: Role, household: str | None = None) -> str:
        store = self.store()
        try:
            _, token = store.create_user(name, role, household, self.clock())
        finally:
            store.close()
        self.tokens[name] = token
        return token

    def enrol_token(self, household: str, ttl: timedelta = timedelta(days=1)) -> str:
        store = self.store()
        try:
            return store.create_enrol_token(household, ttl, self.clock())[0]
        finally:
            store.close()

    async def enrol(self, household: str) -> Agent:
        key = generate_private_key()
        answer = await self.client.post(
            "/api/v1/enroll",
            json={
                "token": self.enrol_token(household),
                "public_key": public_key_to_text(key.public_key()),
                "hostname": "hub",
            },
        )
        assert answer.status == 201, await answer.text()
        return Agent((await answer.json())["agent_id"], household, key)

    async def upload(self, data: bytes) -> tuple[int, Any, Any]:
        answer = await self.client.post("/api/v1/bundles", data=data, headers={"Content-Type": BUNDLE_TYPE})
        return answer.status, await answer.json(), answer.headers

    async def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = await self.client.request(method, path, headers=headers, **kwargs)
        body = await answer.read()
        if answer.content_type == "application/json":
            return answer.status, await answer.json()
        return answer.status, body


NOW = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def collector(
    tmp_path: Path, config_overrides: dict[str, Any], database: dict[str, Any], blob_overrides: dict[str, Any]
) -> AsyncIterator[Collector]:
    config = collector_config(tmp_path, **database, **deep_merge(blob_overrides, config_overrides))
    clock = ManualClock(NOW)
    app = create_app(config, clock=clock, monotonic_clock=clock.monotonic)
    server = TestServer(app, host="127.0.0.1")
    async with TestClient(server) as client:
        yield Collector(client, config, clock)
