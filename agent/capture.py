"""Turning a fault (or a request) into a bundle: the capture window's evidence, gathered, signed and spooled.

A fault is captured exactly once, whenever the agent dies. ``captures.jsonl`` (the ``CaptureJournal``) is
what tells a restarted agent a fault was captured already, and the bundle's own manifest stands in for it
until it is written. The steps (``agent.crashpoints.CaptureStep``):

1. build the bundle in memory: a crash loses it, the restarted agent replays the fault and captures it;
2. *stage* it beside the spool (``<id>.staged``, complete, not uploadable);
3. record it in ``captures.jsonl``;
4. commit it into the spool, where the uploader takes it.

At start, ``finish_interrupted_captures`` completes every staged bundle (records it from its manifest if step 3
did not happen, then commits it) before the fault engine is told what was captured. No bundle can be uploaded
(and so leave the spool) before it is recorded, so a recorded capture is always either in the spool or
delivered, never to be made again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from shared.models import BundleManifest, CaptureWindow, DiagnosisReport, Inventory, LogLine, TimelineEvent, Trigger

from .config import AgentConfig
from .crashpoints import CaptureStep, crash_point
from .identity import Identity
from .outbox import Outbox, Spool, SpoolFull
from .recorder import FlightRecorder

_LOGGER = logging.getLogger(__name__)


def evidence_files(
    events: list[TimelineEvent], logs: list[LogLine], inventory: Inventory | None, diagnosis: DiagnosisReport | None
) -> dict[str, bytes]:
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


class CaptureJournal:
    """``captures.jsonl``: one line per fault captured, ``{"signature", "at", "bundle_id"}``, fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _entries(self) -> list[dict[str, str]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        entries = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut short by a crash
                continue
            if isinstance(entry, dict) and isinstance(entry.get("signature"), str) and isinstance(entry.get("at"), str):
                entries.append(entry)
        return entries

    def last_captures(self) -> dict[str, datetime]:
        """Each signature's last capture time, for the fault engine's grouping after a restart."""
        captured: dict[str, datetime] = {}
        for entry in self._entries():
            try:
                captured[entry["signature"]] = datetime.fromisoformat(entry["at"])
            except ValueError:
                continue
        return captured

    def bundle_ids(self) -> set[str]:
        return {str(entry.get("bundle_id")) for entry in self._entries()}

    def append(self, signature: str, at: datetime, bundle_id: str) -> None:
        line = json.dumps({"signature": signature, "at": at.isoformat(), "bundle_id": bundle_id}).encode() + b"\n"
        with open(self.path, "a+b") as handle:
            if handle.tell() > 0:  # a line cut short by a crash must not swallow this one
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    line = b"\n" + line
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def finish_interrupted_captures(spool: Spool, journal: CaptureJournal) -> list[BundleManifest]:
    """Complete the captures a crash cut short (steps 3 and 4 for every staged bundle). Blocking; at start,
    before the fault engine hears what was captured. Returns the manifests of the bundles it finished."""
    finished = []
    recorded = journal.bundle_ids()
    for path, manifest in spool.staged():
        if manifest is None:  # cannot happen short of disk damage: a staged file is written atomically
            _LOGGER.warning("removing %s: not a readable bundle", path)
            path.unlink(missing_ok=True)
            continue
        signature = manifest.trigger.signature
        if signature and str(manifest.bundle_id) not in recorded:
            journal.append(signature, manifest.window.end, str(manifest.bundle_id))
        try:
            spool.commit(path, manifest)
        except (OSError, SpoolFull) as exc:  # recorded, and still staged: the next start tries again
            _LOGGER.warning("bundle %s stays staged: %s", manifest.bundle_id, exc)
            continue
        _LOGGER.warning("bundle %s (%s) was staged when the agent stopped: queued now", manifest.bundle_id, signature)
        finished.append(manifest)
    return finished


class Capturer:
    """Builds bundles from the recorder and hands them to the outbox."""

    def __init__(
        self,
        config: AgentConfig,
        identity: Identity,
        recorder: FlightRecorder,
        outbox: Outbox,
        journal: CaptureJournal,
        inventory: Callable[[], Inventory | None] = lambda: None,
        diagnose: Callable[[list[TimelineEvent], Inventory | None, datetime, str | None], DiagnosisReport | None] = (
            lambda events, inventory, now, signature: None
        ),
    ) -> None:
        self._config = config
        self._identity = identity
        self._recorder = recorder
        self._outbox = outbox
        self._journal = journal
        self._inventory = inventory
        self._diagnose = diagnose

    async def _build(self, trigger: Trigger, start: datetime, end: datetime) -> tuple[BundleManifest, bytes]:
        events = self._recorder.events(start, end)
        logs = self._recorder.logs(start, end)
        inventory = self._inventory()  # on the loop: the inventory store is the loop's
        # Diagnosis and serialisation are CPU work on up to a capture window of events: off the loop.
        report = await asyncio.to_thread(self._diagnose, events, inventory, end, trigger.signature)
        files = await asyncio.to_thread(evidence_files, events, logs, inventory, report)
        from .bundler import create_bundle  # redaction's patterns and tables load at the first bundle, not at start

        manifest, data = await asyncio.to_thread(
            create_bundle,
            self._config,
            self._identity,
            trigger=trigger,
            window=CaptureWindow(start=start, end=end),
            extra_files=files,
        )
        _LOGGER.info(
            "bundle %s (%s, %d events, %d bytes) made",
            manifest.bundle_id,
            trigger.signature or trigger.kind.value,
            len(events),
            len(data),
        )
        return manifest, data

    async def capture(self, trigger: Trigger, start: datetime, end: datetime) -> str:
        """Bundle [start, end] with ``trigger`` (a request: nothing to record); returns the bundle id once it
        is safely in the spool."""
        manifest, data = await self._build(trigger, start, end)
        await self._outbox.put(data, manifest)
        return str(manifest.bundle_id)

    async def capture_fault(self, trigger: Trigger, start: datetime, end: datetime, at: datetime) -> str:
        """Bundle a fault and record it (see the module's steps); returns the bundle id once it is spooled (or
        held in memory, when the disk refuses it)."""
        signature = trigger.signature or trigger.kind.value
        await asyncio.to_thread(self._recorder.sync)  # the fault's own events outlive a power cut first
        manifest, data = await self._build(trigger, start, end)
        crash_point(CaptureStep.BUILT)
        bundle_id = str(manifest.bundle_id)
        try:
            staged: Path | None = await self._outbox.stage(data, manifest)
        except OSError as exc:  # a full disk: the outbox holds it in memory below
            _LOGGER.warning("bundle %s not staged (%s)", bundle_id, exc.strerror or exc)
            staged = None
        crash_point(CaptureStep.STAGED)
        try:
            await asyncio.to_thread(self._journal.append, signature, at, bundle_id)
        except OSError as exc:  # only the grouping after a restart relies on it; the bundle itself is kept
            _LOGGER.warning("capture of %s not noted in %s: %s", signature, self._journal.path.name, exc)
        crash_point(CaptureStep.RECORDED)
        committed = False
        if staged is not None:
            try:
                await self._outbox.commit(staged, manifest)
                committed = True
            except OSError as exc:  # the put below holds it in memory; a staged copy left is the same bytes
                _LOGGER.warning("bundle %s not committed to the spool (%s)", bundle_id, exc.strerror or exc)
        if not committed:
            await self._outbox.put(data, manifest)
        crash_point(CaptureStep.SPOOLED)
        return bundle_id
