"""Diagnosis: from the timeline, the inventory, the host facts, the firmware profiles and fresh checks to a report.

``diagnose`` is pure: the same inputs give the same report, live or from a bundle. Each finding has a root
cause from the fixed vocabulary, its evidence, the devices it concerns, a confidence, and the four-part
explanation (symptom, root cause, solution, risk) in English and Simplified Chinese. The verdict is the most
serious unexpected finding, ``healthy`` only when there is none; the priority follows the support process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.models import (
    CaptureWindow,
    DiagnosisReport,
    EventKind,
    EventState,
    Finding,
    Inventory,
    LogLine,
    Priority,
    RootCause,
    TimelineEvent,
)
from shared.profiles import ProfileSet

from ..outages import NETWORK_KINDS
from .devices import device_findings
from .hub import hub_findings
from .moment import deciding, reconcile
from .network import network_findings
from .text import Facts, explain_all

# Most serious first: the verdict is the first of these among the unexpected findings.
SEVERITY = (
    RootCause.HUB_POWER_LOSS,
    RootCause.HUB_LINK_DOWN,
    RootCause.BROKER_REFUSED,
    RootCause.BROKER_DOWN,
    RootCause.ROUTER_SCHEDULED_REBOOT,
    RootCause.ROUTER_REBOOT,
    RootCause.WAN_OUTAGE,
    RootCause.DNS_FAILURE,
    RootCause.DEVICE_CRASH_LOOP,
    RootCause.FIRMWARE_KNOWN_ISSUE,
    RootCause.DEVICE_OFFLINE,
    RootCause.DEVICE_REBOOT,
    RootCause.WIFI_WEAK_SIGNAL,
    RootCause.HUB_REBOOT,
    RootCause.CLOCK_JUMP,
    # Last: a hub short of resources rarely explains what the customer noticed, so it decides only when
    # nothing else does; it is always listed among the findings.
    RootCause.HUB_DEGRADED,
)
MINOR = frozenset({RootCause.HUB_REBOOT, RootCause.CLOCK_JUMP, RootCause.WIFI_WEAK_SIGNAL, RootCause.DEVICE_REBOOT})
SYSTEM_DOWN_CHECKS = frozenset({"hub_link", "gateway", "broker"})


def _affected_names(events: Sequence[TimelineEvent], devices: Mapping[str, Any]) -> str:
    dropped = sorted(
        {
            e.device_id
            for e in events
            if e.kind is EventKind.DEVICE_AVAILABILITY and e.state is EventState.OFFLINE and e.device_id
        }
    )
    names = [getattr(devices.get(d), "name", None) or d for d in dropped]
    if not names:
        return "your devices"
    if len(names) <= 2:
        return "Your " + " and ".join(names)
    return f"Your {names[0]} and {len(names) - 1} other devices"


def _check_dict(check: Any) -> dict[str, Any]:
    return dataclasses.asdict(check) if dataclasses.is_dataclass(check) and not isinstance(check, type) else dict(check)


def _priority(verdict: RootCause, checks: Sequence[dict[str, Any]], inventory: Inventory) -> Priority:
    failing_now = {c["name"] for c in checks if c.get("ok") is False}
    devices = [d for d in inventory.devices if d.available is not None]
    mostly_offline = bool(devices) and sum(1 for d in devices if d.available is False) * 2 >= len(devices)
    if (
        failing_now & SYSTEM_DOWN_CHECKS
        or mostly_offline
        or verdict in (RootCause.HUB_POWER_LOSS, RootCause.HUB_LINK_DOWN)
    ):
        return Priority.P1
    if verdict is RootCause.HEALTHY or verdict in MINOR:
        return Priority.P3
    return Priority.P2


def fault_focus(timeline: Sequence[TimelineEvent], signature: str | None) -> tuple[datetime, datetime] | None:
    """The span of the fault a bundle was captured for, from its closing FAULT event."""
    for event in reversed(timeline):
        if (
            event.kind is EventKind.FAULT
            and event.state is EventState.CLOSED
            and event.detail.get("signature") == signature
        ):
            started = event.detail.get("started")
            return (datetime.fromisoformat(started) if isinstance(started, str) else event.ts), event.ts
    return None


def _healthy(events: Sequence[TimelineEvent], checks: Sequence[dict[str, Any]]) -> Finding:
    """No fault: the evidence is each monitor's latest word; surest with fresh checks all passing as well."""
    latest = {e.kind: e for e in events if e.kind in NETWORK_KINDS and e.state in (EventState.UP, EventState.DOWN)}
    fresh = [c for c in checks if c.get("ok") is not None]
    confidence = 0.5 if not events else 0.9 if fresh else 0.75
    explanation, translations = explain_all(RootCause.HEALTHY, Facts())
    return Finding(
        root_cause=RootCause.HEALTHY,
        confidence=confidence,
        title="No fault found",
        explanation=explanation,
        translations=translations,
        evidence=list(latest.values()),
    )


def diagnose(
    timeline: Sequence[TimelineEvent],
    inventory: Inventory,
    host: Mapping[str, Any],
    profiles: ProfileSet,
    now: datetime,
    checks: Sequence[Any] = (),
    logs: Sequence[LogLine] = (),
    focus: tuple[datetime, datetime] | None = None,
) -> DiagnosisReport:
    """``focus``: the span the question is about (a fault bundle's fault); findings there decide the verdict.
    ``checks``: fresh check results at ``now``, reconciled with what the timeline holds (``moment.reconcile``)."""
    check_dicts = [_check_dict(c) for c in checks]
    recorded = sorted(timeline, key=lambda e: e.ts)
    events = sorted([*recorded, *reconcile(recorded, check_dicts, now)], key=lambda e: e.ts)
    devices = {device.id: device for device in inventory.devices}
    findings: list[Finding] = []
    findings += network_findings(events, devices, profiles, _affected_names(events, devices), now)
    findings += device_findings(events, devices, logs, profiles)
    findings += hub_findings(events)
    unexpected = deciding(findings, now, focus)
    verdict = next((cause for cause in SEVERITY if any(f.root_cause is cause for f in unexpected)), RootCause.HEALTHY)
    if verdict is RootCause.HEALTHY:
        findings.append(_healthy(events, check_dicts))
    findings.sort(
        key=lambda f: (
            f.expected,
            not f.ongoing,
            SEVERITY.index(f.root_cause) if f.root_cause in SEVERITY else len(SEVERITY),
        )
    )
    window = CaptureWindow(start=events[0].ts, end=max(events[-1].ts, events[0].ts)) if events else None
    return DiagnosisReport(
        generated_at=now,
        verdict=verdict,
        priority=_priority(verdict, check_dicts, inventory),
        findings=findings,
        window=window,
        checks={"live": check_dicts, "host": {k: host[k] for k in ("hostname", "boot_time") if k in host}},
    )
