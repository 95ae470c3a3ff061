"""``homediag-agent diagnose``: the one-click self-diagnosis, or an offline diagnosis of a bundle.

Live: fresh checks (hub link, gateway, DNS, internet, broker) and a few seconds of discovery for each known
device's availability, together with the flight recorder's history; prints the report for a person (or
``--json``), makes a self-diagnosis bundle and, with ``--send`` (the customer's consent), delivers it so the
collector opens a ticket with the suggested priority, and prints the ticket number.

``--from-bundle FILE`` diagnoses a bundle's own timeline and inventory, verified with ``--public-key`` or the
agent's own key (``--unverified`` reads it without checking, and says so).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from rich.console import Console

from shared.bundle import open_bundle
from shared.errors import BundleError
from shared.models import CaptureWindow, DiagnosisReport, Inventory, LogLine, TimelineEvent, Trigger, TriggerKind, utcnow
from shared.profiles import load_profiles
from shared.signing import public_key_from_text

from ..bundler import create_bundle
from ..capture import evidence_files
from ..clock import Clock
from ..config import AgentConfig
from ..diagnosis import diagnose
from ..discovery import Discovery
from ..errors import AgentError
from ..evidence import MemorySink
from ..facts import host_facts
from ..identity import Identity
from ..inventory import InventoryStore
from ..monitors.probes import run_checks
from .bundle import deliver

HISTORY = timedelta(days=7)
DISCOVERY_S = 3.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("diagnose", help="one-click self-diagnosis (or diagnose a bundle offline)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (docs/schemas/diagnosis-report)")
    parser.add_argument("--from-bundle", type=Path, metavar="FILE", help="diagnose this bundle instead of the home")
    parser.add_argument("--public-key", help="base64 key (or a file holding it) to verify --from-bundle with")
    parser.add_argument("--unverified", action="store_true", help="read --from-bundle without verifying it")
    parser.add_argument("--send", action="store_true", help="the customer agrees: send the evidence and open a ticket")
    parser.add_argument("--lang", choices=("en", "zh"), help="language of the report (default: web.language or en)")
    parser.set_defaults(handler=run_diagnose)


def run_diagnose(args: argparse.Namespace, config: AgentConfig) -> int:
    console = Console(stderr=True)
    language = args.lang or (config.web.language if config.web.language != "auto" else "en")
    if args.from_bundle:
        report = _from_bundle(args, config)
    else:
        with console.status("Checking the network, the hub and the devices…"):
            report, files = asyncio.run(_live(config))
        if args.send:
            with console.status("Sending the evidence to support…"):
                print(_send(config, report, files), file=sys.stderr)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print_report(report, language, Console())
    return 0


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


async def _live(config: AgentConfig) -> tuple[DiagnosisReport, dict[str, bytes]]:
    clock = Clock()
    now = clock.now()
    config.state_dir.mkdir(parents=True, exist_ok=True)
    recorder = config.state_dir / "recorder"
    events: list[TimelineEvent] = _read_ring(recorder / "events.jsonl", TimelineEvent, now - HISTORY)
    logs: list[LogLine] = _read_ring(recorder / "logs.jsonl", LogLine, now - HISTORY)
    store = await asyncio.to_thread(InventoryStore.open, config.state_dir / "inventory.json",
                                    max_devices=config.discovery.max_devices)
    sink = MemorySink()
    async with Discovery(config, sink, store, clock=clock):
        checks, _ = await asyncio.gather(run_checks(config), asyncio.sleep(DISCOVERY_S))
    events += sink.events
    logs += sink.logs
    inventory = store.snapshot()
    host = await asyncio.to_thread(host_facts, config.state_dir)
    profiles = load_profiles(config.firmware_profiles)
    report = diagnose(events, inventory, host, profiles, clock.now(), checks, logs)
    return report, evidence_files(events, logs, inventory, report)


def _send(config: AgentConfig, report: DiagnosisReport, files: dict[str, bytes]) -> str:
    identity = Identity.load_or_create(config.state_dir)
    if identity.enrollment is None:
        raise AgentError("cannot send: this hub is not enrolled (homediag-agent enroll)")
    first = report.findings[0]
    trigger = Trigger(kind=TriggerKind.SELF_DIAGNOSIS, open_ticket=True, priority=report.priority,
                      signature=report.verdict.value, summary=f"{first.explanation.symptom} {first.explanation.root_cause}"[:500])
    end = report.generated_at
    start = report.window.start if report.window else end - timedelta(minutes=10)
    manifest, data = create_bundle(config, identity, trigger=trigger, window=CaptureWindow(start=min(start, end), end=end),
                                   extra_files=files)
    delivery = asyncio.run(deliver(config, identity, config.upload.wait_s, new=(manifest, data)))
    result = delivery.results.get(str(manifest.bundle_id))
    if result is None or result.ticket_id is None:
        return f"evidence {manifest.bundle_id} is queued; it will be sent when the collector can be reached"
    return f"sent to support: ticket {result.ticket_id} (bundle {manifest.bundle_id})"


def _from_bundle(args: argparse.Namespace, config: AgentConfig) -> DiagnosisReport:
    try:
        opened = open_bundle(args.from_bundle.read_bytes())
        if args.unverified:
            print("warning: the bundle was not verified", file=sys.stderr)
            files = {**opened.members}
            manifest = opened.claimed
        else:
            verified = opened.verify(public_key_from_text(_public_key(args, config)))
            files, manifest = verified.files, verified.manifest
    except OSError as exc:
        raise AgentError(f"cannot read {args.from_bundle}: {exc.strerror}") from exc
    except BundleError as exc:
        raise AgentError(f"{args.from_bundle}: {exc}") from exc
    events = [TimelineEvent.model_validate_json(line) for line in files.get("timeline.jsonl", b"").splitlines() if line.strip()]
    inventory = (Inventory.model_validate_json(files["inventory.json"]) if "inventory.json" in files
                 else Inventory(generated_at=manifest.created_at))
    host = json.loads(files.get("host.json", b"{}"))
    return diagnose(events, inventory, host, load_profiles(config.firmware_profiles), manifest.window.end)


def _public_key(args: argparse.Namespace, config: AgentConfig) -> str:
    if args.public_key:
        candidate = Path(args.public_key)
        return candidate.read_text().strip() if candidate.exists() else args.public_key
    return Identity.load_or_create(config.state_dir).public_key_text


def print_report(report: DiagnosisReport, language: str, console: Console) -> None:
    labels = {"en": ("What happens", "Why", "What to do", "If nothing is done", "Suggested priority", "also normal"),
              "zh": ("现象", "原因", "解决办法", "如不处理", "建议优先级", "正常现象")}[language]
    console.print(f"[bold]{report.verdict.value}[/bold]  ({labels[4]} {report.priority.value}, {utcnow():%Y-%m-%d %H:%M}Z)")
    for finding in report.findings:
        text = finding.translations.get(language, finding.explanation) if language != "en" else finding.explanation
        if finding.expected:
            console.print(f"  [dim]{labels[5]}: {finding.title}[/dim]")
            continue
        console.print(f"\n[bold]{finding.title}[/bold]  ({finding.root_cause.value}, {finding.confidence:.0%})")
        for label, value in zip(labels[:4], (text.symptom, text.root_cause, text.solution, text.risk), strict=True):
            console.print(f"  [bold]{label}:[/bold] {value}")
