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
from pathlib import Path

from rich.console import Console

from shared.bundle import open_bundle
from shared.errors import BundleError
from shared.models import DiagnosisReport, Inventory, TimelineEvent, utcnow
from shared.profiles import load_profiles
from shared.signing import public_key_from_text

from ..config import AgentConfig
from ..diagnosis import diagnose, fault_focus
from ..errors import AgentError
from ..identity import Identity
from ..selfcheck import STEP_TEXT, self_check, send_to_support


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
        with console.status("Checking the network, the hub and the devices…") as status:
            report, files = asyncio.run(self_check(config, lambda step: status.update(STEP_TEXT[step])))
        if args.send:
            with console.status("Sending the evidence to support…"):
                print(send_to_support(config, report, files).message, file=sys.stderr)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print_report(report, language, Console())
    return 0


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
    events = [
        TimelineEvent.model_validate_json(line)
        for line in files.get("timeline.jsonl", b"").splitlines()
        if line.strip()
    ]
    inventory = (
        Inventory.model_validate_json(files["inventory.json"])
        if "inventory.json" in files
        else Inventory(generated_at=manifest.created_at)
    )
    host = json.loads(files.get("host.json", b"{}"))
    return diagnose(
        events,
        inventory,
        host,
        load_profiles(config.firmware_profiles),
        manifest.window.end,
        focus=fault_focus(events, manifest.trigger.signature),
    )


def _public_key(args: argparse.Namespace, config: AgentConfig) -> str:
    if args.public_key:
        candidate = Path(args.public_key)
        return candidate.read_text().strip() if candidate.exists() else args.public_key
    return Identity.load_or_create(config.state_dir).public_key_text


def print_report(report: DiagnosisReport, language: str, console: Console) -> None:
    labels = {
        "en": ("What happens", "Why", "What to do", "If nothing is done", "Suggested priority", "also normal"),
        "zh": ("现象", "原因", "解决办法", "如不处理", "建议优先级", "正常现象"),
    }[language]
    console.print(
        f"[bold]{report.verdict.value}[/bold]  ({labels[4]} {report.priority.value}, {utcnow():%Y-%m-%d %H:%M}Z)"
    )
    for finding in report.findings:
        text = finding.translations.get(language, finding.explanation) if language != "en" else finding.explanation
        if finding.expected:
            console.print(f"  [dim]{labels[5]}: {finding.title if language == 'en' else text.symptom}[/dim]")
            continue
        console.print(f"\n[bold]{finding.title}[/bold]  ({finding.root_cause.value}, {finding.confidence:.0%})")
        for label, value in zip(labels[:4], (text.symptom, text.root_cause, text.solution, text.risk), strict=True):
            console.print(f"  [bold]{label}:[/bold] {value}")
