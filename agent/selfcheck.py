"""The one-click self-check, shared by ``homediag-agent diagnose`` and the local page: fresh checks, a short
discovery and the recorder's history into a diagnosis report, and — with the customer's consent — the
evidence sent to support as a self-diagnosis bundle that opens a ticket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.models import (
    BundleManifest,
    CaptureWindow,
    DiagnosisReport,
    Inventory,
    LogLine,
    TimelineEvent,
    Trigger,
    TriggerKind,
)
from shared.profiles import ProfileSet, load_profiles

from .bundler import create_bundle
from .capture import evidence_files
from .clock import Clock
from .commands.bundle import deliver
from .config import AgentConfig
from .diagnosis import diagnose
from .discovery import Discovery
from .errors import AgentError
from .evidence import MemorySink
from .facts import host_facts
from .identity import Identity
from .inventory import InventoryStore
from .monitors.health import health_event
from .monitors.probes import run_checks

HISTORY = timedelta(days=7)
DISCOVERY_S = 3.0  # the longest the one click listens to the devices
STEP_TEXT = {
    "network": "Checking the router, the internet and the hub…",
    "devices": "Listening to the devices…",
    "analysis": "Working out what happened…",
}


def _read_ring(path: Path, model: type[BaseModel], since: Any) -> list[Any]:
    """The recorder's file, read without disturbing a running agent that appends to it."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = model.model_validate_json(line)
        except ValidationError:
            continue
        if record.ts >= since:  # type: ignore[attr-defined]
            records.append(record)
    return records


def _availability_to_hear(inventory: Inventory) -> set[str]:
    """The devices whose availability must be heard before the one click stops listening early; empty (listen the
    whole window) when any known device has no availability to say (an mDNS or ARP sighting only tells by being
    seen in time) or when the hub knows no device yet. Brokers hand out availability retained, so in a home where
    every device reports it the answer comes in a fraction of a second."""
    if not inventory.devices or any(device.available is None for device in inventory.devices):
        return set()
    return {device.id for device in inventory.devices}


def _history(config: AgentConfig, now: datetime) -> tuple[list[TimelineEvent], list[LogLine], ProfileSet]:
    """The recorder's week of events and logs, and the firmware profiles. Blocking."""
    recorder = config.state_dir / "recorder"
    return (
        _read_ring(recorder / "events.jsonl", TimelineEvent, now - HISTORY),
        _read_ring(recorder / "logs.jsonl", LogLine, now - HISTORY),
        load_profiles(config.firmware_profiles),
    )


async def self_check(
    config: AgentConfig,
    progress: Callable[[str], None] = lambda step: None,
) -> tuple[DiagnosisReport, dict[str, bytes]]:
    """Fresh checks, a few seconds of discovery and the recorder's history → the report and the evidence files."""
    clock = Clock()
    now = clock.now()
    config.state_dir.mkdir(parents=True, exist_ok=True)
    store = await asyncio.to_thread(
        InventoryStore.open, config.state_dir / "inventory.json", max_devices=config.discovery.max_devices
    )
    sink = MemorySink()
    loop = asyncio.get_running_loop()
    awaited = _availability_to_hear(store.snapshot())
    progress("network")
    async with Discovery(config, sink, store, clock=clock):
        listening_since = loop.time()
        # The checks and reading the week's history (thousands of lines on a busy hub) run while discovery
        # listens, and the listening window counts from its start: the customer waits for the longest, not the sum.
        async with asyncio.TaskGroup() as group:
            checking = group.create_task(run_checks(config))
            reading = group.create_task(asyncio.to_thread(_history, config, now))
        progress("devices")
        listening = max(0.0, DISCOVERY_S - (loop.time() - listening_since))
        if awaited:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(listening):
                    await store.availability_of(awaited)
        else:
            await asyncio.sleep(listening)
    checks = checking.result()
    events, logs, profiles = reading.result()
    progress("analysis")
    # The hub as it is now: a running agent on a full disk may not have written its latest samples.
    sink.event(await asyncio.to_thread(health_event, config.state_dir, clock.now))
    events += sink.events
    logs += sink.logs
    inventory = store.snapshot()
    host = await asyncio.to_thread(host_facts, config.state_dir)
    report = diagnose(events, inventory, host, profiles, clock.now(), checks, logs)
    return report, evidence_files(events, logs, inventory, report)


@dataclass(frozen=True)
class Sent:
    bundle_id: str
    ticket_id: str | None

    @property
    def message(self) -> str:
        if self.ticket_id is None:
            return f"evidence {self.bundle_id} is queued; it will be sent when the collector can be reached"
        return f"sent to support: ticket {self.ticket_id} (bundle {self.bundle_id})"


def self_diagnosis_trigger(report: DiagnosisReport, *, note: str = "", failing_now: Sequence[str] = ()) -> Trigger:
    """The customer's consent to open a ticket with this report: the customer's words first, then what the check
    found. Pressed while the fault still lasts, it is provisional: the signature is ``<cause>:ongoing`` (the cause
    as it looks so far, which the collector keeps provisional until the fault's own bundle brings the whole story)
    and the summary says what failed at the click."""
    first = report.findings[0]
    parts = [f"Customer: {note.strip()}"] if note.strip() else []
    ongoing = bool(failing_now) or (first.ongoing and first.root_cause is report.verdict)
    if failing_now:
        parts.append(f"Provisional, sent during an outage: failing at the check: {', '.join(failing_now)}.")
    else:
        parts.append(f"{first.explanation.symptom} {first.explanation.root_cause}")
    signature = report.verdict.value + (":ongoing" if ongoing else "")
    return Trigger(
        kind=TriggerKind.SELF_DIAGNOSIS,
        open_ticket=True,
        priority=report.priority,
        signature=signature,
        summary=" ".join(parts)[:500],
    )


def support_bundle(
    config: AgentConfig,
    identity: Identity,
    report: DiagnosisReport,
    files: dict[str, bytes],
    *,
    note: str = "",
    failing_now: Sequence[str] = (),
) -> tuple[BundleManifest, bytes]:
    """The self-diagnosis bundle that opens a ticket (blocking: signs and compresses). Sent while checks fail
    (``failing_now``), the fault bundle captured once the outage is over joins the same ticket (its time fits)
    and says what happened."""
    trigger = self_diagnosis_trigger(report, note=note, failing_now=failing_now)
    end = report.generated_at
    start = report.window.start if report.window else end - timedelta(minutes=10)
    extra = files | ({"customer-note.txt": note.strip().encode()} if note.strip() else {})
    return create_bundle(
        config, identity, trigger=trigger, window=CaptureWindow(start=min(start, end), end=end), extra_files=extra
    )


def send_to_support(config: AgentConfig, report: DiagnosisReport, files: dict[str, bytes]) -> Sent:
    """The customer agreed: a self-diagnosis bundle that opens a ticket. Blocking (runs its own event loop)."""
    identity = Identity.load_or_create(config.state_dir)
    if identity.enrollment is None:
        raise AgentError("cannot send: this hub is not enrolled (homediag-agent enroll)")
    manifest, data = support_bundle(config, identity, report, files)
    delivery = asyncio.run(deliver(config, identity, config.upload.wait_s, new=(manifest, data)))
    result = delivery.results.get(str(manifest.bundle_id))
    return Sent(str(manifest.bundle_id), None if result is None else result.ticket_id)
