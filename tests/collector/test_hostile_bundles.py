"""Validly signed bundles whose files do not match their schemas: refused at ingest, and harmless if already stored.

Every case is a real archive signed with the enrolled agent's key (only its contents lie), uploaded over HTTP.
The same bytes, planted in the store as a bundle accepted before ingest checked its files, must not break the
ticket page or the fleet page: they show an error box and answer 200.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import timedelta

import pytest

from collector import fleet
from collector.ingest import Upload, Verified, bundle_record
from collector.models import BundleRecord, Role
from collector.state import BLOBS, DB
from shared.bundle import peek_manifest
from shared.models import Priority, Trigger, TriggerKind
from tests.blob_fixtures import BlobBackend

from .conftest import NOW, Agent, Collector


@pytest.fixture(params=list(BlobBackend))
def blob_backend(request: pytest.FixtureRequest) -> BlobBackend:
    """Every test here runs against the filesystem and against a real S3 server."""
    return BlobBackend(request.param)


DEVICE = {"id": "plug", "first_seen": NOW.isoformat(), "last_seen": NOW.isoformat()}
INVENTORY = {"generated_at": NOW.isoformat(), "devices": [DEVICE]}
FINDING = {
    "root_cause": "router_reboot",
    "confidence": 0.9,
    "title": "t",
    "explanation": {"symptom": "s", "root_cause": "r", "solution": "x", "risk": "y"},
}
DIAGNOSIS = {"generated_at": NOW.isoformat(), "verdict": "router_reboot", "priority": "P2", "findings": [FINDING]}
EVENT = {
    "ts": NOW.isoformat(),
    "kind": "device_availability",
    "state": "offline",
    "source": "monitor",
    "device_id": "plug",
}


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


# name -> (file, bytes): each one is a lie about a single file the collector parses.
MALFORMED = {
    "inventory not json": ("inventory.json", b"{not json"),
    "inventory invalid utf-8": ("inventory.json", b'{"generated_at": "\xff\xfe"}'),
    "inventory a list": ("inventory.json", _json([INVENTORY])),
    "inventory devices a string": ("inventory.json", _json({**INVENTORY, "devices": "plug"})),
    "inventory device without times": ("inventory.json", _json({**INVENTORY, "devices": [{"id": "plug"}]})),
    "inventory naive timestamp": ("inventory.json", _json({**INVENTORY, "generated_at": "2026-11-24T03:30:00"})),
    "inventory unknown field": ("inventory.json", _json({**INVENTORY, "owner": "mallory"})),
    "inventory nesting bomb": (
        "inventory.json",
        b'{"generated_at": "2026-11-24T03:30:00Z", "devices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ),
    "inventory device id a number": ("inventory.json", _json({**INVENTORY, "devices": [{**DEVICE, "id": 7}]})),
    "diagnosis not json": ("diagnosis.json", b"\x00\x01"),
    "diagnosis a string": ("diagnosis.json", _json("router_reboot")),
    "diagnosis unknown verdict": ("diagnosis.json", _json({**DIAGNOSIS, "verdict": "aliens"})),
    "diagnosis confidence over 1": ("diagnosis.json", _json({**DIAGNOSIS, "findings": [{**FINDING, "confidence": 2}]})),
    "diagnosis finding without explanation": (
        "diagnosis.json",
        _json({**DIAGNOSIS, "findings": [{k: v for k, v in FINDING.items() if k != "explanation"}]}),
    ),
    "diagnosis findings an object": ("diagnosis.json", _json({**DIAGNOSIS, "findings": {"a": 1}})),
    "timeline not json": ("timeline.jsonl", _json(EVENT) + b"\n<script>alert(1)</script>\n"),
    "timeline unknown kind": ("timeline.jsonl", _json({**EVENT, "kind": "meltdown"}) + b"\n"),
    "timeline bad time": ("timeline.jsonl", _json({**EVENT, "ts": "yesterday"}) + b"\n"),
    "timeline an array line": ("timeline.jsonl", b"[1, 2, 3]\n"),
}
VALID = {"inventory.json": _json(INVENTORY), "diagnosis.json": _json(DIAGNOSIS), "timeline.jsonl": _json(EVENT) + b"\n"}
FLEET_TRIGGER = Trigger(
    kind=TriggerKind.SELF_DIAGNOSIS,
    signature="device_offline:plug",
    open_ticket=True,
    priority=Priority.P2,
    summary="the plug drops off",
)


def _malformed(agent: Agent, case: str) -> bytes:
    file, content = MALFORMED[case]
    return agent.bundle(start=NOW, trigger=FLEET_TRIGGER, files=VALID | {"host.json": b"{}", file: content})


def _blob_files(collector: Collector) -> list[str]:
    return collector.client.app[BLOBS].names()


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_signed_bundle_with_a_malformed_file_is_refused_naming_the_file(
    collector: Collector, case: str
) -> None:
    agent = await collector.enrol("hh-a")
    status, body, _ = await collector.upload(_malformed(agent, case))
    file = MALFORMED[case][0]
    assert (status, body["error"]["code"]) == (422, "file_invalid"), body
    assert body["error"]["message"].startswith(file), body
    assert len(body["error"]["message"]) < 400  # the reason, not a dump of the input
    assert _blob_files(collector) == []  # neither the blob nor the staged upload is kept


async def test_a_well_formed_bundle_with_every_parsed_file_is_accepted(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    status, body, _ = await collector.upload(agent.bundle(start=NOW, trigger=FLEET_TRIGGER, files=VALID))
    assert status == 201, body


def _session(collector: Collector, name: str, role: Role) -> dict[str, str]:
    collector.user(name, role)
    store = collector.store()
    try:
        user_id = store._conn.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()["id"]
        token = secrets.token_urlsafe(32)
        store.create_session(user_id, token, "csrf", collector.clock() + timedelta(hours=1), collector.clock())
    finally:
        store.close()
    return {"Cookie": f"homediag_session={token}"}


def _plant(collector: Collector, agent: Agent, data: bytes) -> int:
    """Store a bundle as an older collector (no file checks) would have: its blob and its record."""
    blobs, claimed = collector.client.app[BLOBS], peek_manifest(data)
    upload = Upload(data, claimed)
    blobs.adopt(blobs.stage(data), upload.sha256())
    store = collector.store()
    try:
        agent_record = store.get_agent(agent.agent_id)
        assert agent_record is not None
        record = bundle_record(upload, Verified(claimed, upload.sha256()), agent_record, collector.clock())
        [stored] = store.add_bundles(
            [(record, [])], slack=timedelta(hours=6), lookback=timedelta(days=14), now=collector.clock()
        )
    finally:
        store.close()
    assert isinstance(stored, BundleRecord) and stored.ticket_id is not None
    return stored.ticket_id


async def test_pages_show_an_error_box_for_a_bad_stored_bundle(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    cookie = _session(collector, "eve", Role.ENGINEER)
    tickets = {
        case: _plant(collector, agent, _malformed(agent, case))
        for case in ("inventory devices a string", "diagnosis a string", "timeline unknown kind")
    }
    gone = agent.bundle(start=NOW, trigger=FLEET_TRIGGER, files=VALID)
    tickets["blob missing"] = _plant(collector, agent, gone)
    collector.client.app[BLOBS].discard(Upload(gone, peek_manifest(gone)).sha256())
    for case, ticket_id in tickets.items():
        answer = await collector.client.get(f"/ui/tickets/{ticket_id}", headers=cookie)
        page = await answer.text()
        assert answer.status == 200, (case, page)
        assert 'class="error-box"' in page, case
    app = collector.client.app
    assert await fleet.backfill(app[DB], app[BLOBS]) == 4  # what a start does for bundles an older collector stored
    answer = await collector.client.get("/ui/fleet", headers=cookie)
    assert answer.status == 200 and "device_offline" in await answer.text()


async def test_a_conflict_is_refused_before_anything_is_written_and_counts_against_the_rate_limit(
    collector: Collector,
) -> None:
    agent = await collector.enrol("hh-a")
    status, first, _ = await collector.upload(agent.bundle(start=NOW))
    assert status == 201
    stored = sorted(_blob_files(collector))
    bundle_id = uuid.UUID(first["bundle_id"])
    refused = 0
    for attempt in range(80):  # the default burst is 60
        other = agent.bundle(start=NOW, bundle_id=bundle_id, files={"host.json": _json({"attempt": attempt})})
        status, body, headers = await collector.upload(other)
        assert sorted(_blob_files(collector)) == stored  # no orphan blob, nothing staged left behind
        if status == 429:
            refused += 1
            assert int(headers["Retry-After"]) >= 1
            continue
        assert (status, body["error"]["code"]) == (409, "bundle_conflict")
    assert refused == 80 - 59  # one token went to the first upload, each conflict took one
    status, body, _ = await collector.upload(agent.bundle(start=NOW))
    assert status == 429  # the hub that kept conflicting waits like any other
