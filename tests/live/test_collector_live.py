"""The collector's live API end to end: enrolment hands out broker credentials, engineers ask, everything is audited."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent.live import Consent, LiveChannel
from collector.app import create_app
from collector.live_broker import BrokerAccounts
from collector.models import Role
from collector.store import Store
from collector.store.backends.sqlite import SqliteBackend
from collector.web.passwords import hash_password
from lab.mosquitto import Mosquitto
from shared.live import LiveGrant
from shared.models import utcnow
from shared.signing import generate_private_key, public_key_to_text
from tests.configs import collector_config
from tests.waiting import eventually

from .conftest import support_listener
from .handlers import FakeHomeHandlers

pytestmark = pytest.mark.broker


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Mosquitto, Path]]:
    accounts = BrokerAccounts(tmp_path / "broker", "homediag-collector")
    broker = Mosquitto(allow_anonymous=False, extra_config=support_listener(accounts))
    pid_file = tmp_path / "broker.pid"
    config = collector_config(
        tmp_path,
        live={
            "url": broker.url,
            "accounts_dir": str(accounts.directory),
            "pid_file": str(pid_file),
            "request_timeout_s": 1.5,
        },
    )
    broker.start()
    pid_file.write_text(str(broker.pid))
    try:
        async with TestClient(TestServer(create_app(config), host="127.0.0.1")) as client:
            yield client, broker, config.database_path
    finally:
        broker.close()


async def _online(client: TestClient, agent_id: str, headers: dict[str, str], *, expected: bool = True) -> bool:
    answer = await client.get(f"/api/v1/agents/{agent_id}/presence", headers=headers)
    return (await answer.json())["online"] is expected


def _user(database: Path, name: str, role: Role, household: str | None = None) -> str:
    store = Store(SqliteBackend(database))
    try:
        return store.create_user(name, role, household, utcnow())[1]
    finally:
        store.close()


async def _enrol(client: TestClient, database: Path, household: str) -> tuple[str, LiveGrant]:
    store = Store(SqliteBackend(database))
    try:
        token = store.create_enrol_token(household, timedelta(hours=1), utcnow())[0]
    finally:
        store.close()
    answer = await client.post(
        "/api/v1/enroll",
        json={"token": token, "public_key": public_key_to_text(generate_private_key().public_key()), "hostname": "hub"},
    )
    body = await answer.json()
    assert answer.status == 201 and body["live"] is not None, body
    return body["agent_id"], LiveGrant.model_validate(body["live"])


async def test_engineer_asks_a_consenting_agent_and_everything_is_audited(stack) -> None:  # type: ignore[no-untyped-def]
    client, _broker, database = stack
    engineer = {"Authorization": f"Bearer {_user(database, 'eve', Role.ENGINEER)}"}
    customer = {"Authorization": f"Bearer {_user(database, 'carol', Role.CUSTOMER, 'hh-a')}"}
    agent_id, grant = await _enrol(client, database, "hh-a")
    consent = [Consent("allowed")]
    async with LiveChannel(agent_id, grant, FakeHomeHandlers(), lambda: consent[0], reconnect_min_s=0.1) as channel:
        await asyncio.wait_for(channel.connected.wait(), 10)
        await eventually(lambda: _online(client, agent_id, customer), what="the hub online")

        answer = await client.post(
            f"/api/v1/agents/{agent_id}/live/device.state", json={"device_id": "plug-1"}, headers=engineer
        )
        body = await answer.json()
        assert answer.status == 200 and body["result"]["rssi_dbm"] == -61, body

        refused = await client.post(f"/api/v1/agents/{agent_id}/live/inventory", headers=customer)
        assert refused.status == 403
        consent[0] = Consent("off")
        answer = await client.post(f"/api/v1/agents/{agent_id}/live/inventory", headers=engineer)
        assert (answer.status, (await answer.json())["error"]["code"]) == (409, "consent_refused")
        missing = await client.post(f"/api/v1/agents/{agent_id}/live/reboot", headers=engineer)
        assert missing.status == 400
        nobody = await client.post("/api/v1/agents/agt_nobody/live/inventory", headers=engineer)
        assert nobody.status == 404

    await eventually(lambda: _online(client, agent_id, engineer, expected=False), what="the hub offline after it left")
    answer = await client.post(f"/api/v1/agents/{agent_id}/live/inventory", headers=engineer)
    body = await answer.json()
    assert (answer.status, body["error"]["code"]) == (504, "agent_timeout") and "offline since" in body["error"][
        "message"
    ]

    store = Store(SqliteBackend(database))
    try:
        entries = [e for e in reversed(store.audit_log(target=agent_id)) if e["action"].startswith("live.")]
        stranger = store.audit_log(target="agt_nobody")
    finally:
        store.close()
    # Every request is in the trail, refused ones too, each with its reason.
    assert [(e["actor"], e["action"], e["detail"]["outcome"]) for e in entries] == [
        ("eve", "live.device.state", "ok"),
        ("carol", "live.inventory", "role_forbidden"),
        ("eve", "live.inventory", "consent_refused"),
        ("eve", "live.unknown_method", "unknown_method"),
        ("eve", "live.inventory", "timeout"),
    ]
    assert all(e["detail"].get("reason") for e in entries[1:]), entries
    assert "customer role" in entries[1]["detail"]["reason"] and "reboot" in entries[3]["detail"]["reason"]
    assert [(e["actor"], e["detail"]["outcome"]) for e in stranger] == [("eve", "agent_not_found")]
    metrics = await (await client.get("/metrics")).text()  # relayed ones are timed: ok, refused by the agent, timeout
    for outcome in ("ok", "agent_error", "timeout"):
        assert f'homediag_collector_live_request_seconds_count{{outcome="{outcome}"}} 1.0' in metrics, metrics


async def test_the_ticket_pages_live_panel_asks_the_households_hub(stack) -> None:  # type: ignore[no-untyped-def]
    client, _broker, database = stack
    store = Store(SqliteBackend(database))
    try:
        store.create_user("eve", Role.ENGINEER, None, utcnow())
        store.set_password("eve", hash_password("pw-eve-123"), utcnow())
    finally:
        store.close()
    api = {"Authorization": f"Bearer {_user(database, 'api', Role.ENGINEER)}"}
    agent_id, grant = await _enrol(client, database, "hh-a")
    answer = await client.post(
        "/api/v1/tickets",
        headers=api,
        json={"household": "hh-a", "device": "plug", "symptom": "off", "when": "now", "priority": "P2"},
    )
    ticket_id = (await answer.json())["id"]
    async with LiveChannel(
        agent_id, grant, FakeHomeHandlers(), lambda: Consent("allowed"), reconnect_min_s=0.1
    ) as channel:
        await asyncio.wait_for(channel.connected.wait(), 10)
        await client.post(
            "/ui/login", data={"name": "eve", "password": "pw-eve-123", "next": "/ui/"}, allow_redirects=False
        )

        async def page_once_online() -> str | None:
            page = await (await client.get(f"/ui/tickets/{ticket_id}")).text()
            return page if ">online<" in page else None

        page = await eventually(page_once_online, what="the ticket page showing the hub online")
        csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        forged = await client.post(f"/ui/tickets/{ticket_id}/live/inventory", headers={"X-CSRF-Token": "x"}, json={})
        assert forged.status == 403
        answer = await client.post(f"/ui/tickets/{ticket_id}/live/inventory", headers={"X-CSRF-Token": csrf}, json={})
        body = await answer.json()
        assert answer.status == 200 and body["result"]["devices"][0]["id"] == "plug-1", body
    store = Store(SqliteBackend(database))
    try:
        refused = [
            (e["actor"], e["action"], e["detail"]["outcome"]) for e in store.audit_log(target=f"ticket:{ticket_id}")
        ]
    finally:
        store.close()
    assert refused == [("eve", "live.inventory", "http_403")]  # the forged panel request is in the trail too
