"""Several collector replicas on one PostgreSQL database and one blob directory: whichever replica answers, an
upload, its replay, a session with its CSRF token and a rate limit are the same; the SLA scan and the outbox run
on one replica at a time and move when it goes. Also what both backends share: numbered migrations, text that
one database would refuse."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.app import create_app
from collector.config import CollectorConfig
from collector.models import Role
from collector.store import open_store
from collector.store.backends import Duty
from collector.store.backends.postgres import MIGRATIONS as POSTGRES_MIGRATIONS
from collector.store.backends.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from lab.postgres import PostgresServer
from tests.configs import collector_config
from tests.waiting import eventually

from .conftest import NOW, Collector, ManualClock
from .sessions import Browser, sign_in
from .test_delivery import Servers, notify_config, servers  # noqa: F401  (fixture)


@pytest.fixture
async def replicas(tmp_path: Path, postgres: PostgresServer) -> AsyncIterator[tuple[Collector, Collector]]:
    """Two apps on one database and one data directory (the blobs), each with its own HTTP server."""
    config = collector_config(
        tmp_path, database_url=postgres.fresh_database(), rate_limit={"burst": 3, "per_minute": 6}
    )
    clock = ManualClock(NOW)
    apps = [create_app(config, clock=clock, monotonic_clock=clock.monotonic) for _ in range(2)]
    async with TestClient(TestServer(apps[0])) as first, TestClient(TestServer(apps[1])) as second:
        yield Collector(first, config, clock), Collector(second, config, clock)


async def test_an_upload_acknowledged_by_one_replica_is_a_replay_on_the_other(
    replicas: tuple[Collector, Collector],
) -> None:
    a, b = replicas
    agent = await a.enrol("hh-a")
    data = agent.bundle(start=NOW)
    status, first, _ = await a.upload(data)
    assert status == 201
    status, again, _ = await b.upload(data)
    assert status == 200 and again["bundle_id"] == first["bundle_id"]
    engineer = a.user("eve", Role.ENGINEER)
    _, listed = await b.call("GET", "/api/v1/bundles", engineer)
    assert [bundle["bundle_id"] for bundle in listed["bundles"]] == [first["bundle_id"]]
    status, blob = await b.call("GET", f"/api/v1/bundles/{first['bundle_id']}", engineer)
    assert status == 200 and blob == data  # the bytes one replica wrote, read through the other


async def test_a_session_and_its_csrf_token_work_on_either_replica(replicas: tuple[Collector, Collector]) -> None:
    a, b = replicas
    on_a = await sign_in(a, "eve", Role.ENGINEER)
    on_b = Browser(b, on_a.cookie)
    on_b.csrf = on_a.csrf
    status, _, page = await on_b.get("/ui/")
    assert status == 200 and "eve" in page
    status, _ = await on_b.post("/ui/logout", {})
    assert status == 303
    status, _, page = await on_a.get("/ui/")
    assert 'name="password"' in page  # signed out everywhere: A shows the sign-in form


async def test_the_upload_rate_limit_counts_on_every_replica(replicas: tuple[Collector, Collector]) -> None:
    a, b = replicas
    agent = await a.enrol("hh-a")
    for replica in (a, b, a):
        status, _, _ = await replica.upload(agent.bundle(start=NOW))
        assert status == 201
    status, body, headers = await b.upload(agent.bundle(start=NOW))
    assert (status, body["error"]["code"]) == (429, "rate_limited") and int(headers["Retry-After"]) == 10
    a.clock.advance(10)
    status, _, _ = await b.upload(agent.bundle(start=NOW))
    assert status == 201


def test_each_duty_has_one_replica_and_moves_when_it_goes(postgres: PostgresServer) -> None:
    config = CollectorConfig(database_url=postgres.fresh_database())
    first, second = open_store(config), open_store(config)
    try:
        assert first.try_lead(Duty.SLA_SCAN) and first.try_lead(Duty.SLA_SCAN)  # kept, asked again
        assert not second.try_lead(Duty.SLA_SCAN)
        assert second.try_lead(Duty.OUTBOX) and not first.try_lead(Duty.OUTBOX)  # duties are independent
        first.close()  # the replica goes: its connection, and with it the lock, as soon as the server sees it
        deadline = time.monotonic() + 10
        while not second.try_lead(Duty.SLA_SCAN):  # what the survivor's next pass does
            assert time.monotonic() < deadline, "the lock did not move"
            time.sleep(0.05)
    finally:
        second.close()


async def test_the_schema_is_at_the_newest_numbered_version(collector: Collector) -> None:
    store = collector.store()
    try:
        versions = [row[0] for row in store._conn.execute("SELECT version FROM schema_version ORDER BY version")]
    finally:
        store.close()
    assert versions == list(range(1, len(SQLITE_MIGRATIONS) + 1)) == list(range(1, len(POSTGRES_MIGRATIONS) + 1))


async def test_text_one_database_cannot_hold_is_never_a_500(collector: Collector) -> None:
    engineer = collector.user("eve", Role.ENGINEER)
    status, body = await collector.call(
        "POST",
        "/api/v1/tickets",
        engineer,
        json={
            "household": "hh-a",
            "device": "router\u0000",
            "symptom": "drops\u0000 wifi",
            "when": "now",
            "priority": "P3",
        },
    )
    assert status == 201, body
    status, _ = await collector.call("GET", "/api/v1/tickets?household=hh-a\u0000", engineer)
    assert status in (200, 400)


async def test_a_replica_whose_database_connection_dropped_reconnects(
    replicas: tuple[Collector, Collector], postgres: PostgresServer
) -> None:
    a, _ = replicas
    engineer = a.user("eve", Role.ENGINEER)
    assert (await a.call("GET", "/api/v1/tickets", engineer))[0] == 200
    assert a.config.database_url is not None
    with psycopg.connect(a.config.database_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )  # a server restart or failover, as both replicas see it
    statuses = [(await a.call("GET", "/api/v1/tickets", engineer))[0] for _ in range(2)]
    assert statuses[-1] == 200 and all(status in (200, 503) for status in statuses)  # at most one refused


@pytest.fixture
async def notifying_replicas(
    tmp_path: Path,
    postgres: PostgresServer,
    servers: Servers,  # noqa: F811  (the fixture)
) -> AsyncIterator[tuple[Collector, Collector]]:
    """Two replicas whose outboxes both poll every 50 ms for the same jobs."""
    config = collector_config(tmp_path, database_url=postgres.fresh_database(), **notify_config(servers))
    clock = ManualClock(NOW)
    apps = [create_app(config, clock=clock, monotonic_clock=clock.monotonic) for _ in range(2)]
    async with TestClient(TestServer(apps[0])) as first, TestClient(TestServer(apps[1])) as second:
        yield Collector(first, config, clock), Collector(second, config, clock)


async def test_two_replicas_send_each_notification_once(
    notifying_replicas: tuple[Collector, Collector],
    servers: Servers,  # noqa: F811  (the fixture)
) -> None:
    a, b = notifying_replicas
    token = a.user("eve", Role.ENGINEER)
    intake = {"household": "hh-a", "device": "plug", "symptom": "off", "when": "now", "priority": "P3"}
    for replica in (a, b, a, b):  # changes on either replica
        status, ticket = await replica.call("POST", "/api/v1/tickets", token, json=intake)
        assert status == 201
        status, _ = await replica.call(
            "POST", f"/api/v1/tickets/{ticket['id']}/notes", token, json={"text": "on it", "visibility": "public"}
        )
        assert status == 201
    await eventually(lambda: len(servers.receiver.deliveries) >= 8)
    await asyncio.sleep(0.5)  # ten more polls of both outboxes: nothing may follow
    keys = [delivery["key"] for delivery in servers.receiver.deliveries]
    assert len(keys) == len(set(keys)) >= 8
