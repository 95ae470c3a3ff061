"""Fleet insight: facts indexed at ingest, counted per household this week against the week before."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from collector.app import create_app
from collector.blobs import open_blob_store
from collector.ingest import Upload, Verified, bundle_record, peek_upload
from collector.models import BundleRecord, Role
from collector.store import open_store
from collector.store.fleet_facts import DeviceCause, FleetFact, FleetGrouping, FleetWeeks
from shared.bundle import ReadLimits
from shared.models import (
    Device,
    DiagnosisReport,
    Explanation,
    Finding,
    Inventory,
    Priority,
    RootCause,
    Trigger,
    TriggerKind,
)
from shared.profiles import known_issue_title, load_profiles

from .conftest import NOW, Agent, Collector, ManualClock, collector_config
from .sessions import sign_in

ISSUE = load_profiles().known_issue("tasmota-mqtt-network-unreachable")
PLUG = Device(id="plug", family="tasmota", model="Sonoff Basic", firmware="9.1.0", first_seen=NOW, last_seen=NOW)
TRIGGER = Trigger(kind=TriggerKind.FAULT, signature="device_offline:plug")
WHY = Explanation(symptom="s", root_cause="r", solution="s", risk="r")


def _files(*causes: RootCause) -> dict[str, bytes]:
    assert ISSUE is not None
    findings = [
        Finding(
            root_cause=cause,
            confidence=0.9,
            title=known_issue_title("Plug", ISSUE) if cause is RootCause.FIRMWARE_KNOWN_ISSUE else "plug offline",
            explanation=WHY,
            devices=["plug"],
        )
        for cause in causes
    ]
    diagnosis = DiagnosisReport(generated_at=NOW, verdict=causes[0], priority=Priority.P2, findings=findings)
    return {
        "inventory.json": Inventory(generated_at=NOW, devices=[PLUG]).model_dump_json().encode(),
        "diagnosis.json": diagnosis.model_dump_json().encode(),
        "timeline.jsonl": b"",
    }


async def _fault(collector: Collector, agent: Agent, minutes: int, *causes: RootCause) -> dict[str, Any]:
    start = collector.clock() - timedelta(minutes=minutes)
    status, body, _ = await collector.upload(agent.bundle(start=start, trigger=TRIGGER, files=_files(*causes)))
    assert status == 201, body
    return body


async def test_households_per_firmware_this_week_against_the_week_before(collector: Collector) -> None:
    both = (RootCause.FIRMWARE_KNOWN_ISSUE, RootCause.DEVICE_OFFLINE)
    last_week = [await collector.enrol(f"hh-{n}") for n in range(2)]
    for agent in last_week:
        await _fault(collector, agent, 30, *both)
    collector.clock.advance(8 * 86400)
    this_week = [last_week[0], *[await collector.enrol(f"hh-{n}") for n in range(2, 5)]]
    for agent in this_week:
        await _fault(collector, agent, 30, *both)
    await _fault(collector, this_week[1], 60, RootCause.DEVICE_OFFLINE)  # a second fault of one household
    duplicate = this_week[2].bundle(
        start=collector.clock() - timedelta(minutes=30), trigger=TRIGGER, files=_files(*both)
    )
    status, body, _ = await collector.upload(duplicate)  # the same capture sent twice
    assert status == 201 and body["duplicate_of"], body

    engineer = collector.user("eve", Role.ENGINEER)
    status, fleet = await collector.call("GET", "/api/v1/fleet", engineer)
    assert status == 200, fleet
    firmware = {(r["device_model"], r["firmware"], r["cause"]): r for r in fleet["firmware"]}
    known = firmware[("Sonoff Basic", "9.1.0", "firmware_known_issue")]
    assert (known["households_this_week"], known["households_previous_week"], known["trend"]) == (4, 2, 2)
    assert known["bundles_this_week"] == 4  # the duplicate adds nothing
    offline = firmware[("Sonoff Basic", "9.1.0", "device_offline")]
    assert (offline["households_this_week"], offline["bundles_this_week"]) == (4, 5)
    assert fleet["known_issues"] == [
        {
            "known_issue": "tasmota-mqtt-network-unreachable",
            "households_this_week": 4,
            "households_previous_week": 2,
            "bundles_this_week": 4,
            "trend": 2,
        }
    ]
    assert [(r["signature"], r["households_this_week"]) for r in fleet["signatures"]] == [("device_offline", 4)]

    eve = await sign_in(collector, "eve-ui", Role.ENGINEER)
    status, _, page = await eve.get("/ui/fleet")
    assert status == 200 and "Sonoff Basic" in page and "9.1.0" in page and "▲ +2" in page

    customer = collector.user("carl", Role.CUSTOMER, "hh-0")
    assert (await collector.call("GET", "/api/v1/fleet", customer))[0] == 403
    collector.clock.advance(15 * 86400)  # two weeks later nothing of it is "this week" or "the week before"
    status, fleet = await collector.call("GET", "/api/v1/fleet", engineer)
    assert fleet["signatures"] == fleet["firmware"] == fleet["known_issues"] == []


async def test_bundles_stored_before_the_index_are_read_once_at_start(tmp_path: Path, database: dict[str, Any]) -> None:
    """An older collector's data: bundle records and blobs, no fleet facts. The next start indexes them."""
    config = collector_config(tmp_path, **database)
    clock = ManualClock(NOW)
    app = create_app(config, clock=clock, monotonic_clock=clock.monotonic)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        collector = Collector(client, config, clock)
        agents = [await collector.enrol(f"hh-{n}") for n in range(3)]
    bundles = [
        a.bundle(start=NOW - timedelta(minutes=30), trigger=TRIGGER, files=_files(RootCause.DEVICE_OFFLINE))
        for a in agents
    ]
    bundles.append(agents[0].bundle(start=NOW - timedelta(hours=3), trigger=TRIGGER))  # no diagnosis in it
    blobs, store = open_blob_store(config.blob_location), open_store(config)
    try:
        for data in bundles:
            upload: Upload = peek_upload(data, ReadLimits())
            blobs.adopt(blobs.stage(data), upload.sha256())
            agent = store.get_agent(upload.claimed.agent_id)
            assert agent is not None
            record = bundle_record(upload, Verified(upload.claimed, upload.sha256()), agent, NOW)
            [stored] = store.add_bundles([(record, [])], slack=timedelta(hours=6), lookback=timedelta(days=14), now=NOW)
            assert isinstance(stored, BundleRecord)
        store._conn.execute("DELETE FROM fleet_facts")  # as before the table existed
        assert store.bundles_without_fleet_facts(100) != []
    finally:
        store.close()
        blobs.close()

    app = create_app(config, clock=clock, monotonic_clock=clock.monotonic)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        collector = Collector(client, config, clock)
        status, fleet = await collector.call("GET", "/api/v1/fleet", collector.user("eve", Role.ENGINEER))
    assert status == 200
    firmware = {(r["device_model"], r["cause"]): r["households_this_week"] for r in fleet["firmware"]}
    assert firmware == {("Sonoff Basic", "device_offline"): 3}
    assert [(r["signature"], r["bundles_this_week"]) for r in fleet["signatures"]] == [("device_offline", 4)]
    store = open_store(config)
    try:
        assert store.bundles_without_fleet_facts(100) == []  # read once: the next start has nothing to do
    finally:
        store.close()


def test_facts_indexed_twice_count_once(tmp_path: Path, database: dict[str, Any]) -> None:
    """Replicas starting together may both index the same old bundle: the second insert adds nothing."""
    offline = DeviceCause(
        cause=RootCause.DEVICE_OFFLINE.value, device_family="tasmota", device_model="Sonoff Basic", firmware="9.1.0"
    )
    facts = [FleetFact(f"b-{n}", f"hh-{n % 2}", NOW - timedelta(hours=n), "device_offline", offline) for n in range(3)]
    store = open_store(collector_config(tmp_path, **database))
    try:
        store.add_fleet_facts(facts)
        store.add_fleet_facts(facts)
        rows = store.fleet_summary(FleetGrouping.FIRMWARE, FleetWeeks.ending(NOW + timedelta(minutes=1)))
    finally:
        store.close()
    assert [(row.key["firmware"], row.households_this_week, row.bundles_this_week) for row in rows] == [("9.1.0", 2, 3)]
