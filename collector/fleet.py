"""Fleet insight: the facts a bundle carries, extracted once (at ingest, or by the backfill) and indexed.

A bundle yields one ``FleetFact`` per distinct cause its diagnosis names (at least one, with empty fields when
it names none or cannot be read), each with the device it concerns (family, model, firmware), the household and
the time the collector received it. The causes are read in the ingest worker, from the files it verified.
The SQL lives in ``store/fleet_facts.py``; what the fleet page and ``GET /api/v1/fleet`` show is one grouped
query over the last two weeks of facts, however many bundles the fleet has sent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.bundle import open_bundle
from shared.errors import BundleError
from shared.models import Device, RootCause, Trigger
from shared.profiles import known_issue_of

from .blobs import BlobStore
from .contents import BundleContents, ContentInvalid, parse_contents
from .errors import CollectorError
from .models import BundleRecord
from .store import Database, Store
from .store.fleet_facts import DeviceCause, FleetFact, FleetGrouping, FleetRow, FleetWeeks

_LOGGER = logging.getLogger(__name__)
BACKFILL_BATCH = 200


def signature_group(trigger: Trigger) -> str:
    return (trigger.signature or trigger.kind.value).split(":")[0]


def _trigger_device(trigger: Trigger) -> str | None:
    signature = trigger.signature or ""
    return signature.split(":", 1)[1] if ":" in signature else None


def causes_of(trigger: Trigger, contents: BundleContents | None) -> tuple[DeviceCause, ...]:
    """What one bundle's files say (pure): one entry per distinct cause its diagnosis names (expected behaviour
    and "healthy" left out), with the device the finding names or else the trigger's device; one empty entry when
    it names none or ``contents`` is None (a bundle that cannot be read)."""
    if contents is None:
        return (DeviceCause(),)
    devices: dict[str, Device] = {d.id: d for d in contents.inventory.devices} if contents.inventory else {}
    trigger_device = _trigger_device(trigger)

    def on_device(found: DeviceCause, device_ids: list[str]) -> DeviceCause:
        candidates = [*device_ids, *([trigger_device] if trigger_device else [])]
        device = next((devices[i] for i in candidates if i in devices), None)
        if device is None:
            return found
        family, model, firmware = device.family or "", device.model or "", device.firmware or ""
        return replace(found, device_family=family, device_model=model, firmware=firmware)

    causes: dict[tuple[str, str], DeviceCause] = {}
    diagnosis = contents.diagnosis
    for finding in diagnosis.findings if diagnosis else []:
        if finding.expected or finding.root_cause is RootCause.HEALTHY:
            continue
        issue = known_issue_of(finding.title) if finding.root_cause is RootCause.FIRMWARE_KNOWN_ISSUE else None
        key = (finding.root_cause.value, issue or "")
        if key not in causes:
            causes[key] = on_device(DeviceCause(cause=key[0], known_issue=key[1]), finding.devices)
    if not causes:
        verdict = diagnosis.verdict.value if diagnosis and diagnosis.verdict is not RootCause.HEALTHY else ""
        causes[(verdict, "")] = on_device(DeviceCause(cause=verdict), [])
    return tuple(causes.values())


def facts_of(record: BundleRecord, causes: tuple[DeviceCause, ...]) -> list[FleetFact]:
    signature = signature_group(record.trigger)
    return [FleetFact(record.bundle_id, record.household, record.received_at, signature, found) for found in causes]


def _read_contents(blob: bytes) -> BundleContents | None:
    """A stored bundle's files, as stored (verified on arrival); None when they cannot be read (blocking)."""
    try:
        return parse_contents(open_bundle(blob).members)
    except (BundleError, ContentInvalid):
        return None


async def stored_bundle_facts(record: BundleRecord, blobs: BlobStore) -> list[FleetFact]:
    """Read one stored bundle for the backfill; a bundle whose bytes are gone still gets its (empty) facts, so it
    is read once, not at every start."""
    try:
        blob = await asyncio.to_thread(blobs.get, record.sha256)
    except CollectorError as exc:
        _LOGGER.warning("fleet backfill: bundle %s cannot be read: %s", record.bundle_id, exc.message)
        return facts_of(record, causes_of(record.trigger, None))
    return facts_of(record, causes_of(record.trigger, await asyncio.to_thread(_read_contents, blob)))


async def backfill(db: Database, blobs: BlobStore) -> int:
    """Index the bundles stored before the fleet facts existed (or whose indexing a crash cut short): each is read
    once, in batches; how many bundles."""
    indexed = 0
    while batch := await db.run(Store.bundles_without_fleet_facts, BACKFILL_BATCH):
        for record in batch:
            await db.run(Store.add_fleet_facts, await stored_bundle_facts(record, blobs))
        indexed += len(batch)
        _LOGGER.info("fleet backfill: %d bundles indexed so far", indexed)
    return indexed


class FleetCounts(BaseModel):
    households_this_week: int = Field(description="households with such a fault bundle in the last 7 days")
    households_previous_week: int = Field(description="households with one in the 7 days before")
    bundles_this_week: int
    trend: int = Field(description="households this week minus the week before")


class SignatureCounts(FleetCounts):
    signature: str = Field(description="fault signature without its device part, or the trigger kind")


class FirmwareCounts(FleetCounts):
    device_family: str
    device_model: str
    firmware: str
    cause: str = Field(description="a root cause of the diagnosis vocabulary; empty when none was named")


class KnownIssueCounts(FleetCounts):
    known_issue: str = Field(description="a firmware profile's known issue id")


class FleetOverview(BaseModel):
    """The fleet this week against the week before (rolling 7-day windows ending now)."""

    week_start: datetime
    previous_week_start: datetime
    signatures: list[SignatureCounts]
    firmware: list[FirmwareCounts]
    known_issues: list[KnownIssueCounts]


def _counts(row: FleetRow) -> dict[str, Any]:
    return row.key | {
        "households_this_week": row.households_this_week,
        "households_previous_week": row.households_previous_week,
        "bundles_this_week": row.bundles_this_week,
        "trend": row.trend,
    }


async def overview(db: Database, now: datetime, limit: int = 50) -> FleetOverview:
    """By signature, by device model and firmware (with the cause), and by known issue: one grouped query each."""
    weeks = FleetWeeks.ending(now)

    async def rows(grouping: FleetGrouping) -> list[dict[str, Any]]:
        return [_counts(row) for row in await db.run(Store.fleet_summary, grouping, weeks, limit)]

    return FleetOverview.model_validate(
        {
            "week_start": weeks.week_start,
            "previous_week_start": weeks.previous_start,
            "signatures": await rows(FleetGrouping.SIGNATURE),
            "firmware": await rows(FleetGrouping.FIRMWARE),
            "known_issues": await rows(FleetGrouping.KNOWN_ISSUE),
        }
    )
