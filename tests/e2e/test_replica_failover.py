"""Two collector replicas on PostgreSQL behind HAProxy; one is killed while 200 uploads are in flight.

Every upload is retried until acknowledged, as an agent's outbox does. Afterwards every acknowledged bundle is
stored exactly once (one record, its blob intact), nothing else was stored, and the SLA scanner's lock, held by
the killed replica, has moved to the survivor.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import psycopg
import pytest

from collector.blobs import open_blob_store
from collector.config import CollectorConfig
from collector.store import open_store
from collector.store.backends import Duty
from collector.store.backends.postgres import lock_key
from lab.collector_process import CollectorProcess
from lab.haproxy import Balancer
from lab.postgres import PostgresServer
from shared.models import utcnow
from shared.signing import generate_private_key, public_key_to_text
from tests.collector.conftest import BUNDLE_TYPE, NOW, Agent

pytestmark = pytest.mark.slow

UPLOADS = 200
AGENTS = 10
CONCURRENCY = 40
KILL_AFTER_ACKS = 40


@pytest.fixture
def cluster(
    tmp_path: Path, postgres: PostgresServer
) -> Iterator[tuple[CollectorConfig, list[CollectorProcess], Balancer]]:
    url = postgres.fresh_database()
    env = {
        "HOMEDIAG_COLLECTOR_DATABASE_URL": url,
        "HOMEDIAG_COLLECTOR_INGEST__VERIFY_WORKERS": "0",
        "HOMEDIAG_COLLECTOR_SUPPORT__SCAN_INTERVAL_S": "0.3",
    }
    data_dir = tmp_path / "collector"  # one data_dir: the blobs every replica writes and reads
    replicas = [CollectorProcess(data_dir, extra_env=env) for _ in range(2)]
    balancer = Balancer(tmp_path, replicas)
    try:
        for replica in replicas:
            replica.start()
        balancer.start()
        yield CollectorConfig(data_dir=data_dir, database_url=url), replicas, balancer
    finally:
        balancer.stop()
        for replica in replicas:
            replica.kill()


def _scan_lock_holder(url: str) -> int | None:
    """The pid of the collector process whose connection holds the SLA scan lock (from its application_name)."""
    key = lock_key(Duty.SLA_SCAN)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        ).fetchone()
    return None if row is None else int(row[0].rsplit(" ", 1)[-1])


async def _wait_for_holder(url: str, among: set[int], timeout_s: float = 15.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        holder = await asyncio.to_thread(_scan_lock_holder, url)
        if holder in among:
            return holder
        await asyncio.sleep(0.2)
    raise AssertionError(f"no replica of {among} took the scan lock")


async def test_two_hundred_uploads_survive_a_replica_killed_mid_flight(
    cluster: tuple[CollectorConfig, list[CollectorProcess], Balancer],
) -> None:
    config, replicas, balancer = cluster
    assert config.database_url is not None
    by_pid = {replica.pid: replica for replica in replicas}
    doomed = by_pid[await _wait_for_holder(config.database_url, set(by_pid))]
    survivor = next(replica for replica in replicas if replica is not doomed)

    # One token as an operator makes it (the admin CLI on the replica's environment: PostgreSQL), the rest directly.
    tokens = [survivor.admin("token", "create", "--household", "hh-0").split()[-1]]
    store = open_store(config)
    try:
        tokens += [store.create_enrol_token(f"hh-{n}", timedelta(days=1), utcnow())[0] for n in range(1, AGENTS)]
    finally:
        store.close()
    acknowledged: dict[str, str] = {}  # bundle id -> sha256 of the bytes
    attempts = 0
    killed = asyncio.Event()
    async with aiohttp.ClientSession(balancer.url) as http:
        agents = []
        for n, token in enumerate(tokens):
            key = generate_private_key()
            async with http.post(
                "/api/v1/enroll",
                json={"token": token, "public_key": public_key_to_text(key.public_key()), "hostname": "hub"},
            ) as answer:
                assert answer.status == 201, await answer.text()
                agents.append(Agent((await answer.json())["agent_id"], f"hh-{n}", key))
        # 64 KB of incompressible log each, as the bench's bundles: more than HAProxy buffers, so it cannot
        # replay an upload a dying replica dropped; the client (the agent's outbox) has to.
        bundles = [
            agents[i % AGENTS].bundle(
                start=NOW + timedelta(minutes=15 * i),
                files={"host.json": b'{"os": "linux"}', "logs/agent.log": os.urandom(64 * 1024)},
            )
            for i in range(UPLOADS)
        ]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def upload(data: bytes) -> None:
            nonlocal attempts
            async with gate:
                while True:  # the outbox's loop: until the collector acknowledges
                    attempts += 1
                    try:
                        async with http.post(
                            "/api/v1/bundles", data=data, headers={"Content-Type": BUNDLE_TYPE}
                        ) as answer:
                            if answer.status in (200, 201):
                                body = await answer.json()
                                acknowledged[body["bundle_id"]] = hashlib.sha256(data).hexdigest()
                                if len(acknowledged) >= KILL_AFTER_ACKS and not killed.is_set():
                                    killed.set()
                                    doomed.kill()  # SIGKILL with the rest in flight
                                return
                            # HAProxy's 502/503 while the pool changes, or the survivor's 429: the outbox waits.
                            assert answer.status >= 500 or answer.status == 429, (answer.status, await answer.text())
                    except (TimeoutError, aiohttp.ClientError):
                        pass
                    await asyncio.sleep(0.2)

        await asyncio.wait_for(asyncio.gather(*(upload(data) for data in bundles)), timeout=240)

    assert killed.is_set() and not doomed.running and survivor.running
    assert len(acknowledged) == UPLOADS
    store = open_store(config)
    try:
        rows = store._conn.execute("SELECT bundle_id, sha256, duplicate_of FROM bundles").fetchall()
    finally:
        store.close()
    stored = {row["bundle_id"]: row["sha256"] for row in rows}
    assert len(rows) == len(stored) == UPLOADS and stored == acknowledged  # each once, nothing else
    assert all(row["duplicate_of"] is None for row in rows)
    blobs = open_blob_store(config.blob_location)
    try:
        for sha256 in stored.values():
            assert hashlib.sha256(blobs.get(sha256)).hexdigest() == sha256
    finally:
        blobs.close()
    assert await _wait_for_holder(config.database_url, {survivor.pid}) == survivor.pid
    print(f"\n{UPLOADS} bundles stored once each after {attempts} attempts; scan lock moved to pid {survivor.pid}")
