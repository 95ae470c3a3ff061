"""``homediag-agent bundle create|verify|flush``.

Exit codes (also in docs/operations.md):

- ``0``: done. For ``create --upload`` this includes "queued": the collector could not be reached in time,
  the bundle waits in the spool and is uploaded by ``bundle flush`` or ``run``; and "delivered by another
  process": a ``run`` or ``bundle flush`` sharing the spool uploaded it first.
- ``2``: an error (bad input, not enrolled, verification failed, spool full…), one line on stderr.
- ``3``: the collector refused a bundle for good (it was moved to ``spool/rejected/`` with the reason).
- ``75``: ``bundle flush`` only: bundles are still queued because the collector could not be reached in time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.bundle import read_bundle
from shared.models import BundleManifest, CaptureWindow, Priority, Trigger, TriggerKind, utcnow
from shared.signing import public_key_from_text

from ..bundler import create_bundle
from ..collector_client import CollectorClient, UploadOutcome, UploadResult, collector_url
from ..config import AgentConfig
from ..errors import AgentError
from ..identity import Identity
from ..outbox import Fate, Outbox, SpoolEntry

EXIT_REFUSED = 3
EXIT_QUEUED = 75


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bundle", help="create, verify and upload diagnostic bundles")
    actions = parser.add_subparsers(dest="bundle_command", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="a signed, redacted bundle of what the agent knows now")
    create.add_argument(
        "--out", type=Path, help="write the bundle here (default without --upload: ./homediag-<id>.tar.gz)"
    )
    create.add_argument("--upload", action="store_true", help="put it into the outbox and upload it")
    create.add_argument(
        "--trigger",
        choices=[TriggerKind.MANUAL.value, TriggerKind.SELF_DIAGNOSIS.value],
        default=TriggerKind.MANUAL.value,
    )
    create.add_argument(
        "--urgent", action="store_true", help="upload before other bundles; never dropped when the spool is full"
    )
    create.add_argument(
        "--open-ticket", action="store_true", help="the customer consents to the collector opening a ticket with it"
    )
    create.add_argument("--priority", choices=[p.value for p in Priority], help="priority of the ticket to open")
    create.add_argument("--summary", help="one line for the ticket to open")
    create.add_argument(
        "--wait", type=float, metavar="SECONDS", help="how long --upload waits for delivery (default: upload.wait_s)"
    )
    create.set_defaults(handler=run_create)

    verify = actions.add_parser("verify", help="verify a bundle offline: signature, then every file's hash")
    verify.add_argument("file", type=Path)
    verify.add_argument(
        "--public-key",
        metavar="KEY_OR_FILE",
        help="the agent's public key (base64) or a file holding it (default: this agent's own key)",
    )
    verify.set_defaults(handler=run_verify)

    flush = actions.add_parser("flush", help="upload what waits in the spool now")
    flush.add_argument(
        "--wait", type=float, metavar="SECONDS", help="how long to wait for delivery (default: upload.wait_s)"
    )
    flush.set_defaults(handler=run_flush)


@dataclass
class Delivery:
    """What one outbox run achieved."""

    results: dict[str, UploadResult] = field(default_factory=dict)
    remaining: list[SpoolEntry] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    unkept: list[str] = field(default_factory=list)  # only in memory (the disk refused them): gone when we exit
    fate: Fate | None = None  # where the new bundle is now, whoever moved it
    unreachable: str | None = None  # why the last upload failed, if the collector was not reachable


async def deliver(
    config: AgentConfig, identity: Identity, wait_s: float, new: tuple[BundleManifest, bytes] | None = None
) -> Delivery:
    """Run the outbox (after spooling ``new``, if given) until the spool is empty or ``wait_s`` passed."""
    url = collector_url(config, identity.require_enrollment())
    delivery = Delivery()

    def remember(entry: SpoolEntry, result: UploadResult) -> None:
        delivery.results[entry.bundle_id] = result

    async with (
        CollectorClient.from_config(config, url) as client,
        Outbox.from_config(config, client, on_result=remember) as outbox,
    ):
        if new is not None:
            manifest, data = new
            put = await outbox.put(data, manifest)
            delivery.dropped = [record.bundle_id for record in put.dropped]
        await outbox.drain(wait_s)
        delivery.remaining = await outbox.pending()
        delivery.unkept = [entry.bundle_id for entry in outbox.held]
        delivery.unreachable = str(outbox.unreachable) if outbox.unreachable else None
        if new is not None and str(new[0].bundle_id) not in delivery.unkept:
            # Other processes share the spool: one of them may have uploaded (or dropped) it.
            delivery.fate = await asyncio.to_thread(outbox.spool.fate, str(new[0].bundle_id))
    return delivery


def _trigger(args: argparse.Namespace) -> Trigger:
    if (args.priority or args.summary) and not args.open_ticket:
        raise AgentError("--priority and --summary only make sense with --open-ticket")
    return Trigger(
        kind=TriggerKind(args.trigger),
        urgent=args.urgent,
        open_ticket=args.open_ticket,
        priority=Priority(args.priority) if args.priority else None,
        summary=args.summary,
    )


def run_create(args: argparse.Namespace, config: AgentConfig) -> int:
    identity = Identity.load_or_create(config.state_dir)
    identity.require_enrollment()
    now = utcnow()
    window = CaptureWindow(start=now - timedelta(seconds=config.capture.before_s), end=now)
    manifest, data = create_bundle(config, identity, trigger=_trigger(args), window=window)
    bundle_id = str(manifest.bundle_id)
    out = args.out if args.out is not None or args.upload else Path(f"homediag-{bundle_id}.tar.gz")
    if out is not None:
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise AgentError(f"cannot write {out}: {exc.strerror}") from exc
        print(f"bundle {bundle_id} written to {out} ({len(data)} bytes)")
    if not args.upload:
        return 0
    wait_s = config.upload.wait_s if args.wait is None else args.wait
    delivery = asyncio.run(deliver(config, identity, wait_s, new=(manifest, data)))
    if delivery.dropped:
        print(f"spool full: dropped older bundles {', '.join(delivery.dropped)}", file=sys.stderr)
    return _report(bundle_id, delivery, config, wait_s)


def _report(bundle_id: str, delivery: Delivery, config: AgentConfig, wait_s: float) -> int:
    result = delivery.results.get(bundle_id)
    if result is None and bundle_id in delivery.unkept:
        raise AgentError(
            f"bundle {bundle_id} was neither spooled (the disk under {config.state_dir} refused it) nor "
            "delivered (the collector was not reachable): free some space and create it again"
        )
    if result is None and delivery.fate is Fate.DELIVERED:
        print(f"bundle {bundle_id} delivered by another homediag-agent process sharing the spool")
        return 0
    if result is None and delivery.fate is Fate.REJECTED:
        print(
            f"homediag-agent: collector refused bundle {bundle_id} (uploaded by another homediag-agent process); "
            f"see {config.state_dir / 'spool' / 'rejected.jsonl'}",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    if result is None and delivery.fate is Fate.DROPPED:
        raise AgentError(
            f"bundle {bundle_id} was dropped from the full spool by another homediag-agent process "
            "before it could be uploaded: create it again"
        )
    if result is None:
        why = (
            f"the collector was not reachable ({delivery.unreachable})"
            if delivery.unreachable
            else f"not uploaded within {wait_s:g}s, other bundles were ahead of it"
        )
        print(
            f"bundle {bundle_id} queued in the spool ({config.state_dir / 'spool'}): {why}; "
            "'homediag-agent bundle flush' or 'homediag-agent run' uploads it later"
        )
        return 0
    if result.outcome is UploadOutcome.DELIVERED:
        ticket = f", ticket {result.ticket_id}" if result.ticket_id else ", not attached to a ticket yet"
        again = " (the collector already had it)" if result.already_stored else ""
        print(f"bundle {bundle_id} delivered{again}{ticket}")
        return 0
    print(
        f"homediag-agent: collector refused bundle {bundle_id} ({result.status} {result.code}): {result.message}",
        file=sys.stderr,
    )
    return EXIT_REFUSED


def run_flush(args: argparse.Namespace, config: AgentConfig) -> int:
    identity = Identity.load_or_create(config.state_dir)
    wait_s = config.upload.wait_s if args.wait is None else args.wait
    delivery = asyncio.run(deliver(config, identity, wait_s))
    refused = 0
    for bundle_id, result in delivery.results.items():
        if result.outcome is UploadOutcome.DELIVERED:
            ticket = f", ticket {result.ticket_id}" if result.ticket_id else ""
            print(f"bundle {bundle_id} delivered{ticket}")
        else:
            refused += 1
            print(
                f"homediag-agent: collector refused bundle {bundle_id} ({result.status} {result.code}): "
                f"{result.message}",
                file=sys.stderr,
            )
    if delivery.remaining:
        print(f"{len(delivery.remaining)} bundle(s) still queued: the collector was not reachable")
        return EXIT_QUEUED
    if refused:
        return EXIT_REFUSED
    if not delivery.results:
        print("spool is empty: nothing to upload")
    return 0


def _public_key(arg: str | None, config: AgentConfig) -> Any:
    if arg is None:
        return Identity.load(config.state_dir).public_key
    path = Path(arg)
    text = arg
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise AgentError(f"cannot read the public key file {path}: {exc}") from exc
    return public_key_from_text(text)


def run_verify(args: argparse.Namespace, config: AgentConfig) -> int:
    public_key = _public_key(args.public_key, config)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise AgentError(f"cannot read {args.file}: {exc.strerror}") from exc
    verified = read_bundle(data, public_key)
    manifest = verified.manifest
    trigger = manifest.trigger.kind.value + (f" ({manifest.trigger.signature})" if manifest.trigger.signature else "")
    replaced = ", ".join(f"{k}={v}" for k, v in sorted(manifest.redaction.replaced.items())) or "none"
    removed = ", ".join(f"{k}={v}" for k, v in sorted(manifest.redaction.removed.items())) or "none"
    print(f"OK: signature and {len(manifest.files)} file hashes verify")
    print(f"bundle: {manifest.bundle_id}")
    print(f"agent: {manifest.agent_id}  household: {manifest.household}")
    print(f"created: {manifest.created_at.isoformat()}  trigger: {trigger}")
    print(f"window: {manifest.window.start.isoformat()} .. {manifest.window.end.isoformat()}")
    for entry in manifest.files:
        print(f"  {entry.path}  {entry.size} bytes  sha256 {entry.sha256}")
    print(f"redaction: replaced {replaced}; removed {removed}")
    return 0
