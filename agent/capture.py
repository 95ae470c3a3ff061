"""Turning a fault (or a request) into a bundle: the capture window's evidence, gathered, signed and spooled."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from shared.models import CaptureWindow, DiagnosisReport, Inventory, LogLine, TimelineEvent, Trigger

from .bundler import create_bundle
from .config import AgentConfig
from .identity import Identity
from .outbox import Outbox
from .recorder import FlightRecorder

_LOGGER = logging.getLogger(__name__)


def evidence_files(events: list[TimelineEvent], logs: list[LogLine], inventory: Inventory | None,
                   diagnosis: DiagnosisReport | None) -> dict[str, bytes]:
    """The capture window's files: timeline.jsonl, logs/<source>.log, inventory.json, diagnosis.json."""
    files = {"timeline.jsonl": "".join(event.model_dump_json() + "\n" for event in events).encode()}
    by_source: dict[str, list[str]] = defaultdict(list)
    for line in logs:
        device = f" [{line.device_id}]" if line.device_id else ""
        by_source[line.source].append(f"{line.ts.isoformat()} {line.level or '-'}{device} {line.message}\n")
    for source, lines in by_source.items():
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in source) or "unknown"
        files[f"logs/{safe}.log"] = "".join(lines).encode()
    if inventory is not None:
        files["inventory.json"] = inventory.model_dump_json(indent=2).encode()
    if diagnosis is not None:
        files["diagnosis.json"] = diagnosis.model_dump_json(indent=2).encode()
    return files


class Capturer:
    """Builds bundles from the recorder and hands them to the outbox."""

    def __init__(self, config: AgentConfig, identity: Identity, recorder: FlightRecorder, outbox: Outbox,
                 inventory: Callable[[], Inventory | None] = lambda: None,
                 diagnose: Callable[[list[TimelineEvent], datetime, str | None], DiagnosisReport | None] = (
                     lambda events, now, signature: None)) -> None:
        self._config = config
        self._identity = identity
        self._recorder = recorder
        self._outbox = outbox
        self._inventory = inventory
        self._diagnose = diagnose

    async def capture(self, trigger: Trigger, start: datetime, end: datetime) -> str:
        """Bundle [start, end] with ``trigger``; returns the bundle id once it is safely in the spool."""
        events = self._recorder.events(start, end)
        logs = self._recorder.logs(start, end)
        files = evidence_files(events, logs, self._inventory(), self._diagnose(events, end, trigger.signature))
        manifest, data = await asyncio.to_thread(
            create_bundle, self._config, self._identity, trigger=trigger, window=CaptureWindow(start=start, end=end),
            extra_files=files,
        )
        await self._outbox.put(data, manifest)
        _LOGGER.info("bundle %s (%s, %d events, %d bytes) queued", manifest.bundle_id,
                     trigger.signature or trigger.kind.value, len(events), len(data))
        return str(manifest.bundle_id)


def captured_log_line(signature: str, at: datetime, bundle_id: str) -> str:
    return json.dumps({"signature": signature, "at": at.isoformat(), "bundle_id": bundle_id}) + "\n"
