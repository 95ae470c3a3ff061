"""The one-click self-check, shared by ``homediag-agent diagnose`` and the local page: fresh checks, a short
discovery and the recorder's history into a diagnosis report, and — with the customer's consent — the
evidence sent to support as a self-diagnosis bundle that opens a ticket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.models import CaptureWindow, DiagnosisReport, LogLine, TimelineEvent, Trigger, TriggerKind
from shared.profiles import load_profiles

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
DISCOVERY_S = 3.0
STEP_TEXT = {"network": "Checking the router, the internet and the hub…", "devices": "Listening to the devices…",
             "analysis": "Working out what happened…"}


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


async def self_check(config: AgentConfig, progress: Callable[[str], None] = lambda step: None,
                     ) -> tuple[DiagnosisReport, dict[str, bytes]]:
    """Fresh checks, a few seconds of discovery and the recorder's history → the report and the evidence files."""
    clock = Clock()
    now = clock.now()
    config.state_dir.mkdir(parents=True, exist_ok=True)
    recorder = config.state_dir / "recorder"
    events: list[TimelineEvent] = _read_ring(recorder / "events.jsonl", TimelineEvent, now - HISTORY)
    logs: list[LogLine] = _read_ring(recorder / "logs.jsonl", LogLine, now - HISTORY)
    store = await asyncio.to_thread(InventoryStore.open, config.state_dir / "inventory.json",
                                    max_devices=config.discovery.max_devices)
    sink = MemorySink()
    progress("network")
    async with Discovery(config, sink, store, clock=clock):
        checks = await run_checks(config)
        progress("devices")
        await asyncio.sleep(DISCOVERY_S)
    progress("analysis")
    # The hub as it is now: a running agent on a full disk may not have written its latest samples.
    sink.event(await asyncio.to_thread(health_event, config.state_dir, clock.now))
    events += sink.events
    logs += sink.logs
    inventory = store.snapshot()
    host = await asyncio.to_thread(host_facts, config.state_dir)
    profiles = load_profiles(config.firmware_profiles)
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


def self_diagnosis_trigger(report: DiagnosisReport) -> Trigger:
    """The customer's consent to open a ticket with this report. Pressed while the fault still lasts, the
    signature is ``<cause>:ongoing``: the cause as it looks so far, which the collector keeps provisional until
    the fault's own bundle brings the whole story."""
    first = report.findings[0]
    signature = report.verdict.value + (":ongoing" if first.ongoing and first.root_cause is report.verdict else "")
    return Trigger(kind=TriggerKind.SELF_DIAGNOSIS, open_ticket=True, priority=report.priority, signature=signature,
                   summary=f"{first.explanation.symptom} {first.explanation.root_cause}"[:500])


def send_to_support(config: AgentConfig, report: DiagnosisReport, files: dict[str, bytes]) -> Sent:
    """The customer agreed: a self-diagnosis bundle that opens a ticket. Blocking (runs its own event loop)."""
    identity = Identity.load_or_create(config.state_dir)
    if identity.enrollment is None:
        raise AgentError("cannot send: this hub is not enrolled (homediag-agent enroll)")
    trigger = self_diagnosis_trigger(report)
    end = report.generated_at
    start = report.window.start if report.window else end - timedelta(minutes=10)
    manifest, data = create_bundle(config, identity, trigger=trigger, window=CaptureWindow(start=min(start, end), end=end),
                                   extra_files=files)
    delivery = asyncio.run(deliver(config, identity, config.upload.wait_s, new=(manifest, data)))
    result = delivery.results.get(str(manifest.bundle_id))
    return Sent(str(manifest.bundle_id), None if result is None else result.ticket_id)


