"""Bundle upload: every refusal has its status and stable code; replays are idempotent."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import uuid
from datetime import timedelta

import pytest

from collector.errors import Conflict
from collector.fleet import facts_of
from collector.models import BundleRecord, Role
from collector.state import BLOBS
from collector.store.fleet_facts import DeviceCause
from shared.bundle import peek_manifest
from shared.models import Priority, Trigger, TriggerKind
from shared.signing import generate_private_key
from tests.blob_fixtures import BlobBackend

from .conftest import NOW, Agent, Collector


@pytest.fixture(params=list(BlobBackend))
def blob_backend(request: pytest.FixtureRequest) -> BlobBackend:
    """Every test here runs against the filesystem and against a real S3 server."""
    return BlobBackend(request.param)


def _members(data: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return [(info, archive.extractfile(info).read() if info.isfile() else None) for info in archive]  # type: ignore[union-attr]


def _retar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, content in members:
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def _file(name: str, content: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    return info, content


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _with_extra(data: bytes, extra: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    return _retar([*_members(data), extra])


MALICIOUS = {
    "path traversal": (lambda data: _with_extra(data, _file("../../etc/cron.d/evil", b"x")), 400, "unsafe_archive"),
    "absolute path": (lambda data: _with_extra(data, _file("/etc/passwd", b"x")), 400, "unsafe_archive"),
    "symlink": (
        lambda data: _with_extra(data, _link("logs/link", "/etc/shadow", tarfile.SYMTYPE)),
        400,
        "unsafe_archive",
    ),
    "hard link": (
        lambda data: _with_extra(data, _link("logs/hard", "host.json", tarfile.LNKTYPE)),
        400,
        "unsafe_archive",
    ),
    "device": (lambda data: _with_extra(data, _link("logs/dev", "", tarfile.CHRTYPE)), 400, "unsafe_archive"),
    "duplicate name": (lambda data: _with_extra(data, _file("host.json", b'{"os": "evil"}')), 400, "unsafe_archive"),
    "unlisted file": (
        lambda data: _with_extra(data, _file("extra.txt", b"not in the manifest")),
        422,
        "manifest_invalid",
    ),
    "not an archive": (lambda data: b"hello, I am not gzip", 400, "bundle_invalid"),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
async def test_malicious_archives_are_refused_with_a_code(collector: Collector, case: str) -> None:
    agent = await collector.enrol("hh-a")
    forge, status, code = MALICIOUS[case]
    got_status, body, _ = await collector.upload(forge(agent.bundle(start=NOW)))
    assert (got_status, body["error"]["code"]) == (status, code), body
    listing = await collector.call("GET", "/api/v1/bundles", collector.user("eve", Role.ENGINEER))
    assert listing[1]["bundles"] == []
    blobs = collector.client.app[BLOBS]
    assert blobs.names() == []  # nothing kept, not even the staged upload


@pytest.mark.parametrize("config_overrides", [{"ingest": {"max_uncompressed_bytes": 1024 * 1024}}])
async def test_a_decompression_bomb_stops_at_the_limit(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    bomb = agent.bundle(start=NOW, files={"logs/zeros.log": bytes(20 * 1024 * 1024)})
    assert len(bomb) < 100 * 1024
    status, body, _ = await collector.upload(bomb)
    assert (status, body["error"]["code"]) == (413, "bundle_too_large")


@pytest.mark.parametrize("config_overrides", [{"ingest": {"max_bundle_bytes": 64 * 1024}}])
async def test_an_oversized_upload_gets_413(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    big = agent.bundle(start=NOW, files={"capture.pcap": os.urandom(200_000)})
    status, body, _ = await collector.upload(big)
    assert (status, body["error"]["code"]) == (413, "bundle_too_large")


async def test_replay_is_idempotent_and_a_conflicting_replay_is_409(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    data = agent.bundle(start=NOW)
    first_status, first, _ = await collector.upload(data)
    assert first_status == 201 and first["verified"] is True
    again_status, again, _ = await collector.upload(data)
    assert again_status == 200 and again == first

    bundle_id = uuid.UUID(first["bundle_id"])
    other = agent.bundle(start=NOW, bundle_id=bundle_id, files={"host.json": b'{"os": "other"}'})
    status, body, _ = await collector.upload(other)
    assert (status, body["error"]["code"]) == (409, "bundle_conflict")


async def test_signature_by_another_key_and_unknown_or_revoked_agents_are_refused(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    impostor = Agent(agent.agent_id, agent.household, generate_private_key())
    status, body, _ = await collector.upload(impostor.bundle(start=NOW))
    assert (status, body["error"]["code"]) == (422, "signature_invalid")

    stranger = Agent("agt_nobody", "hh-a", agent.key)
    status, body, _ = await collector.upload(stranger.bundle(start=NOW))
    assert (status, body["error"]["code"]) == (403, "agent_unknown")

    elsewhere = Agent(agent.agent_id, "hh-b", agent.key)
    status, body, _ = await collector.upload(elsewhere.bundle(start=NOW))
    assert (status, body["error"]["code"]) == (403, "household_mismatch")

    admin = collector.user("root", Role.ADMIN)
    status, _ = await collector.call("POST", f"/api/v1/agents/{agent.agent_id}/revoke", admin)
    assert status == 200
    status, body, _ = await collector.upload(agent.bundle(start=NOW))
    assert (status, body["error"]["code"]) == (403, "agent_revoked")


@pytest.mark.parametrize("config_overrides", [{"rate_limit": {"burst": 3, "per_minute": 6}}])
async def test_rate_limit_answers_429_with_retry_after(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    for _ in range(3):
        status, _, _ = await collector.upload(agent.bundle(start=NOW))
        assert status == 201
    status, body, headers = await collector.upload(agent.bundle(start=NOW))
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert int(headers["Retry-After"]) == 10  # one token per 10 s at 6/min
    collector.clock.advance(10)
    status, _, _ = await collector.upload(agent.bundle(start=NOW))
    assert status == 201


async def test_enrolment_tokens_are_one_time_and_expire(collector: Collector) -> None:
    token = collector.enrol_token("hh-a", ttl=timedelta(hours=1))
    key = "A" * 43 + "="
    first = await collector.client.post("/api/v1/enroll", json={"token": token, "public_key": key, "hostname": "hub"})
    assert first.status == 201
    again = await collector.client.post("/api/v1/enroll", json={"token": token, "public_key": key, "hostname": "hub"})
    assert (again.status, (await again.json())["error"]["code"]) == (409, "token_used")

    stale = collector.enrol_token("hh-a", ttl=timedelta(hours=1))
    collector.clock.advance(3601)
    late = await collector.client.post("/api/v1/enroll", json={"token": stale, "public_key": key, "hostname": "hub"})
    assert (late.status, (await late.json())["error"]["code"]) == (401, "token_expired")

    bad_key = await collector.client.post(
        "/api/v1/enroll", json={"token": "x", "public_key": "nope", "hostname": "hub"}
    )
    assert (bad_key.status, (await bad_key.json())["error"]["code"]) == (400, "public_key_invalid")
    garbage = await collector.client.post("/api/v1/enroll", data=b"{", headers={"Content-Type": "application/json"})
    assert (garbage.status, (await garbage.json())["error"]["code"]) == (400, "body_invalid")


async def test_self_diagnosis_with_consent_opens_a_ticket(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    trigger = Trigger(
        kind=TriggerKind.SELF_DIAGNOSIS,
        open_ticket=True,
        priority=Priority.P2,
        summary="The curtain stops responding every night around 03:00",
    )
    status, body, _ = await collector.upload(agent.bundle(start=NOW, trigger=trigger))
    assert status == 201 and body["ticket_id"] is not None
    engineer = collector.user("eve", Role.ENGINEER)
    _, ticket = await collector.call("GET", f"/api/v1/tickets/{body['ticket_id']}", engineer)
    assert ticket["priority"] == "P2" and ticket["intake"]["channel"] == "self-diagnosis"
    assert ticket["intake"]["symptom"].startswith("The curtain")
    assert [event["kind"] for event in ticket["events"]] == ["created", "bundle_attached"]


async def test_uploads_verified_and_stored_together_each_get_their_own_answer(collector: Collector) -> None:
    """Concurrent uploads share the workers' batches and the store's transaction; a bad one, a replay and a
    conflict among them are answered alone and the others are stored, with their fleet facts."""
    agent = await collector.enrol("hh-a")
    impostor = Agent(agent.agent_id, agent.household, generate_private_key())
    good = [agent.bundle(start=NOW + timedelta(minutes=20 * n)) for n in range(6)]
    replayed = good[0]
    stored_status, _, _ = await collector.upload(replayed)
    assert stored_status == 201
    taken = uuid.UUID(_bundle_id(replayed))
    conflicting = agent.bundle(start=NOW, bundle_id=taken, files={"host.json": b'{"os": "other"}'})
    uploads = [*good[1:], replayed, impostor.bundle(start=NOW), conflicting, b"not a bundle"]
    answers = await asyncio.gather(*(collector.upload(data) for data in uploads))
    codes = [(status, body.get("error", {}).get("code")) for status, body, _ in answers]
    assert codes == [
        *[(201, None)] * 5,
        (200, None),
        (422, "signature_invalid"),
        (409, "bundle_conflict"),
        (400, "bundle_invalid"),
    ]
    store = collector.store()
    try:
        for _, body, _ in answers[:5]:
            facts = store._conn.execute("SELECT COUNT(*) FROM fleet_facts WHERE bundle_id = ?", (body["bundle_id"],))
            assert facts.fetchone()[0] == 1
    finally:
        store.close()
    blob_names = [name for name in collector.client.app[BLOBS].names() if not name.startswith(".staged/")]
    assert len(blob_names) == 6 and len(collector.client.app[BLOBS].names()) == 6  # nothing orphaned or staged


def _bundle_id(data: bytes) -> str:
    return str(peek_manifest(data).bundle_id)


async def test_a_batch_of_records_keeps_the_others_when_one_conflicts(collector: Collector) -> None:
    """``Store.add_bundles``: one transaction, a savepoint per bundle; a taken id is answered with its conflict
    and rolls back nothing of the others (their records and fleet facts)."""
    agent = await collector.enrol("hh-a")
    status, first, _ = await collector.upload(agent.bundle(start=NOW))
    assert status == 201
    store = collector.store()
    try:
        taken = store.get_bundle(first["bundle_id"])
        assert taken is not None
        fresh = [
            taken.model_copy(
                update={
                    "bundle_id": str(uuid.uuid4()),
                    "window": taken.window.model_copy(
                        update={"start": NOW + timedelta(hours=n), "end": NOW + timedelta(hours=n, minutes=5)}
                    ),
                }
            )
            for n in (1, 2)
        ]
        batch = [(record, facts_of(record, (DeviceCause(cause="wifi_interference"),))) for record in fresh]
        answers = store.add_bundles(
            [batch[0], (taken, []), batch[1]], slack=timedelta(hours=6), lookback=timedelta(days=14), now=NOW
        )
        assert isinstance(answers[1], Conflict)
        for answer, record in zip((answers[0], answers[2]), fresh, strict=True):
            assert isinstance(answer, BundleRecord) and answer.bundle_id == record.bundle_id
            assert store.get_bundle(record.bundle_id) is not None
            facts = store._conn.execute("SELECT cause FROM fleet_facts WHERE bundle_id = ?", (record.bundle_id,))
            assert [row[0] for row in facts] == ["wifi_interference"]
    finally:
        store.close()
