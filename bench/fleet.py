"""Fleet view cost: the indexed overview against what the fleet page did before (re-read 300 bundles per view).

``python -m bench.fleet [--bundles 2000] [--households 500]``: a store with that many signed bundles (each with an
inventory and a diagnosis naming a known issue), their blobs on the filesystem. In the same run it times
1. the backfill that indexes them (once per upgrade), per bundle;
2. the baseline, the old page's work per view: read and parse the newest 300 bundles' blobs;
3. the overview the page and ``GET /api/v1/fleet`` now run: three grouped queries over two weeks of facts,
   covering every bundle.
Prints each and the ratio baseline/overview. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta

from collector import fleet
from collector.blobs import open_blob_store
from collector.config import CollectorConfig
from collector.contents import parse_contents
from collector.ingest import Verified, bundle_record, peek_upload
from collector.models import AgentRecord
from collector.store import Database, open_store
from shared.bundle import ReadLimits, build_bundle, open_bundle
from shared.models import (
    CaptureWindow,
    Device,
    DiagnosisReport,
    Explanation,
    Finding,
    Inventory,
    Priority,
    RedactionSummary,
    RootCause,
    Trigger,
    TriggerKind,
    utcnow,
)
from shared.profiles import KnownIssue, known_issue_title, load_profiles
from shared.signing import generate_private_key, public_key_to_text

OLD_PAGE_BUNDLES = 300


def _files(n: int, issue: KnownIssue) -> dict[str, bytes]:
    now = utcnow()
    plug = Device(
        id="plug", family="tasmota", model=f"model-{n % 7}", firmware=f"9.{n % 5}", first_seen=now, last_seen=now
    )
    why = Explanation(symptom="s", root_cause="r", solution="s", risk="r")
    finding = Finding(
        root_cause=RootCause.FIRMWARE_KNOWN_ISSUE,
        confidence=0.9,
        title=known_issue_title("Plug", issue),
        explanation=why,
    )
    diagnosis = DiagnosisReport(
        generated_at=now, verdict=RootCause.FIRMWARE_KNOWN_ISSUE, priority=Priority.P2, findings=[finding]
    )
    return {
        "inventory.json": Inventory(generated_at=now, devices=[plug]).model_dump_json().encode(),
        "diagnosis.json": diagnosis.model_dump_json().encode(),
        "timeline.jsonl": b"",
    }


def _seed(config: CollectorConfig, bundles: int, households: int) -> None:
    key = generate_private_key()
    public = public_key_to_text(key.public_key())
    store, blobs = open_store(config), open_blob_store(config.blob_location)
    now = utcnow()
    issue = load_profiles().known_issue("tasmota-mqtt-network-unreachable")
    assert issue is not None
    try:
        for n in range(bundles):
            household = f"hh-{n % households}"
            received = now - timedelta(minutes=n * 14 * 24 * 60 // bundles)  # spread over two weeks
            _, data = build_bundle(
                files=_files(n, issue),
                agent_id=f"agt_{household}",
                household=household,
                trigger=Trigger(kind=TriggerKind.FAULT, signature="device_offline:plug"),
                window=CaptureWindow(start=received - timedelta(minutes=10), end=received),
                redaction=RedactionSummary(),
                private_key=key,
            )
            upload = peek_upload(data, ReadLimits())
            blobs.adopt(blobs.stage(data), upload.sha256())
            agent = AgentRecord(
                agent_id=f"agt_{household}",
                household=household,
                hostname="hub",
                public_key=public,
                key_id="k",
                enrolled_at=now,
            )
            record = bundle_record(upload, Verified(upload.claimed, upload.sha256()), agent, received)
            store._insert_bundle(store._conn, record)  # as an older collector stored it: no facts
    finally:
        store.close()
        blobs.close()


def _old_page_work(config: CollectorConfig) -> None:
    store, blobs = open_store(config), open_blob_store(config.blob_location)
    try:
        for record in store.list_bundles(None, limit=OLD_PAGE_BUNDLES):
            parse_contents(open_bundle(blobs.get(record.sha256)).members)
    finally:
        store.close()
        blobs.close()


async def main(bundles: int, households: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        config = CollectorConfig.model_validate({"data_dir": tmp})
        started = time.perf_counter()
        await asyncio.to_thread(_seed, config, bundles, households)
        print(f"seeded {bundles} bundles of {households} households in {time.perf_counter() - started:.1f} s")
        blobs = open_blob_store(config.blob_location)
        async with Database(config) as db:
            started = time.perf_counter()
            indexed = await fleet.backfill(db, blobs)
            spent = time.perf_counter() - started
            print(f"backfill: {indexed} bundles in {spent:.2f} s, {spent / max(indexed, 1) * 1000:.2f} ms per bundle")
            rounds = 5
            started = time.perf_counter()
            for _ in range(rounds):
                await asyncio.to_thread(_old_page_work, config)
            old = (time.perf_counter() - started) / rounds
            started = time.perf_counter()
            for _ in range(rounds):
                overview = await fleet.overview(db, utcnow())
            new = (time.perf_counter() - started) / rounds
        blobs.close()
        households_seen = max(row.households_this_week for row in overview.firmware)
        print(f"baseline (old page: read {OLD_PAGE_BUNDLES} blobs per view): {old * 1000:.1f} ms per view")
        print(
            f"overview (every bundle, {households_seen} households in the top firmware row): {new * 1000:.1f} ms per view"
        )
        print(f"ratio baseline/overview: {old / new:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=2000)
    parser.add_argument("--households", type=int, default=500)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.bundles, arguments.households))
