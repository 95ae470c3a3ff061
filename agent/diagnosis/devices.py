"""Device findings: offline while the network was fine, reboots, crash loops, weak signals, known firmware issues."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from shared.models import Device, EventKind, EventState, Finding, LogLine, RootCause, TimelineEvent
from shared.profiles import KnownIssue, ProfileSet, device_classes, in_range, known_issue_title

from ..outages import REBOOT_ABSENCE, Outage, outages
from .text import Facts, explain_all

CRASH_LOOP_RESTARTS = 3
CRASH_LOOP_WINDOW = timedelta(minutes=15)
WEAK_RSSI_DBM = -80.0
WEAK_LINK_QUALITY = 40
NETWORK_SHADOW = timedelta(minutes=2)  # devices drop a keep-alive after the network and return a little after it


def _name(devices: dict[str, Device], device_id: str) -> str:
    device = devices.get(device_id)
    return (device.name or device_id) if device else device_id


def _in_outage(moment, spans: list[Outage]) -> bool:  # type: ignore[no-untyped-def]
    return any(o.start - timedelta(seconds=5) <= moment <= (o.end or moment) + NETWORK_SHADOW for o in spans)


def device_findings(
    events: Sequence[TimelineEvent], devices: dict[str, Device], logs: Sequence[LogLine], profiles: ProfileSet
) -> list[Finding]:
    spans = [o for o in outages(events) if o.down & {"hub_link", "gateway", "broker"}]
    reboots = _reboots_by_device(events)
    absences = _absences(events, spans, reboots)
    findings: list[Finding] = []
    findings += [_offline_finding(devices, device_id, spells) for device_id, spells in absences.items()]
    findings += _reboots(_without_power_ons(reboots, absences), devices)
    findings += _weak_signal(events, devices)
    findings += _known_issues(reboots, devices, logs, profiles)
    return findings


def _reboots_by_device(events: Sequence[TimelineEvent]) -> dict[str, list[TimelineEvent]]:
    """Each device's reboot events, oldest first."""
    reboots: dict[str, list[TimelineEvent]] = defaultdict(list)
    for event in sorted(events, key=lambda e: e.ts):
        if event.kind is EventKind.DEVICE_REBOOT and event.device_id:
            reboots[event.device_id].append(event)
    return reboots


def _restarted(went: TimelineEvent, back: TimelineEvent, reboots: dict[str, list[TimelineEvent]]) -> bool:
    """The absence was a restart: short, and the device came back with a reboot."""
    assert went.device_id is not None
    return back.ts - went.ts <= REBOOT_ABSENCE and any(
        went.ts - timedelta(seconds=5) <= e.ts <= back.ts + REBOOT_ABSENCE for e in reboots.get(went.device_id, ())
    )


def _absences(
    events: Sequence[TimelineEvent],
    spans: list[Outage],
    reboots: dict[str, list[TimelineEvent]],
) -> dict[str, list[tuple[TimelineEvent, TimelineEvent | None]]]:
    """Each device's absences on its own (not the network's doing, not a restart), oldest first."""
    absences: dict[str, list[tuple[TimelineEvent, TimelineEvent | None]]] = defaultdict(list)
    pending: dict[str, TimelineEvent] = {}
    for event in sorted(events, key=lambda e: e.ts):
        if event.kind is not EventKind.DEVICE_AVAILABILITY or not event.device_id:
            continue
        if event.state is EventState.OFFLINE and not _in_outage(event.ts, spans):
            pending.setdefault(event.device_id, event)
        elif event.state is EventState.ONLINE and event.device_id in pending:
            went = pending.pop(event.device_id)
            if not _restarted(went, event, reboots):
                absences[event.device_id].append((went, event))
    for device_id, went in pending.items():
        absences[device_id].append((went, None))
    return absences


def _without_power_ons(
    reboots: dict[str, list[TimelineEvent]], absences: dict[str, list[tuple[TimelineEvent, TimelineEvent | None]]]
) -> dict[str, list[TimelineEvent]]:
    """A device switched off boots when it is switched on again: that boot is part of its absence, not a restart."""

    def power_on(event: TimelineEvent) -> bool:
        return any(
            back is not None and went.ts <= event.ts <= back.ts + REBOOT_ABSENCE
            for went, back in absences.get(event.device_id or "", ())
        )

    kept = {device: [e for e in events if not power_on(e)] for device, events in reboots.items()}
    return {device: events for device, events in kept.items() if events}


def when_format(moments: Sequence[datetime]) -> str:
    """Times of day, with the date once they span more than a day."""
    return "%H:%M" if max(moments) - min(moments) < timedelta(days=1) else "%Y-%m-%d %H:%M"


def _offline_finding(
    devices: dict[str, Device], device_id: str, spells: list[tuple[TimelineEvent, TimelineEvent | None]]
) -> Finding:
    name = _name(devices, device_id)
    fmt = when_format([went.ts for went, _ in spells])
    en, zh = [], []
    for went, back in spells:
        when = went.ts.strftime(fmt)
        if back is None:
            en.append(f"at {when} and is still offline")
            zh.append(f"{when} 起，至今未恢复")
        else:
            minutes = max(1, round((back.ts - went.ts).total_seconds() / 60))
            en.append(f"at {when} for about {minutes} minute{'s' if minutes != 1 else ''}")
            zh.append(f"{when} 起约 {minutes} 分钟")
    if len(spells) == 1:
        facts, zh_facts = Facts(device=name, detail=" " + en[0]), Facts(device=name, detail=f"（{zh[0]}）")
    else:
        facts = Facts(device=name, detail=f" {len(spells)} times: " + join_en(en))
        zh_facts = Facts(device=name, detail=f"（共 {len(spells)} 次：{'、'.join(zh)}）")
    explanation, translations = explain_all(RootCause.DEVICE_OFFLINE, facts, zh_facts)
    last_back = spells[-1][1]
    evidence = [e for went, back in spells for e in (went, back) if e is not None][-40:]
    title = f"{name} went offline on its own" + (f" ({len(spells)} times)" if len(spells) > 1 else "")
    return Finding(
        root_cause=RootCause.DEVICE_OFFLINE,
        confidence=0.85,
        title=title,
        explanation=explanation,
        translations=translations,
        evidence=evidence,
        devices=[device_id],
        started_at=spells[0][0].ts,
        ended_at=last_back.ts if last_back else None,
        ongoing=last_back is None,
        occurrences=len(spells),
    )


def join_en(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _reboots(by_device: dict[str, list[TimelineEvent]], devices: dict[str, Device]) -> list[Finding]:
    findings = []
    for device_id, reboots in by_device.items():
        name = _name(devices, device_id)
        burst = max(
            (reboots[i:] for i in range(len(reboots))),
            key=lambda tail: sum(1 for e in tail if e.ts - tail[0].ts <= CRASH_LOOP_WINDOW),
        )
        burst = [e for e in burst if e.ts - burst[0].ts <= CRASH_LOOP_WINDOW]
        reasons = sorted({str(e.detail.get("reason")) for e in reboots if e.detail.get("reason")})
        reason = f" (reported reason: {', '.join(reasons)})" if reasons else ""
        zh_reason = f"（上报原因：{'、'.join(reasons)}）" if reasons else ""
        if len(burst) >= CRASH_LOOP_RESTARTS:
            facts, zh = (
                Facts(device=name, count=len(burst), detail=reason),
                Facts(device=name, count=len(burst), detail=zh_reason),
            )
            explanation, translations = explain_all(RootCause.DEVICE_CRASH_LOOP, facts, zh)
            findings.append(
                Finding(
                    root_cause=RootCause.DEVICE_CRASH_LOOP,
                    confidence=0.9,
                    title=f"{name} is crashing and restarting",
                    explanation=explanation,
                    translations=translations,
                    evidence=burst,
                    devices=[device_id],
                    started_at=burst[0].ts,
                    ended_at=burst[-1].ts,
                    occurrences=len(burst),
                )
            )
            continue
        fmt = when_format([e.ts for e in reboots])
        times = [f"{e.ts:{fmt}}" for e in reboots]
        if len(reboots) == 1:
            facts, zh = (
                Facts(device=name, detail=f" at {times[0]}{reason}"),
                Facts(device=name, detail=f"（{times[0]}）{zh_reason}"),
            )
        else:
            facts = Facts(device=name, detail=f" {len(reboots)} times, at {join_en(times)}{reason}")
            zh = Facts(device=name, detail=f"（共 {len(reboots)} 次：{'、'.join(times)}）{zh_reason}")
        explanation, translations = explain_all(RootCause.DEVICE_REBOOT, facts, zh)
        title = f"{name} restarted" + (f" {len(reboots)} times" if len(reboots) > 1 else "")
        findings.append(
            Finding(
                root_cause=RootCause.DEVICE_REBOOT,
                confidence=0.8,
                title=title,
                explanation=explanation,
                translations=translations,
                evidence=reboots[-10:],
                devices=[device_id],
                started_at=reboots[0].ts,
                ended_at=reboots[-1].ts,
                occurrences=len(reboots),
            )
        )
    return findings


def _weak_signal(events: Sequence[TimelineEvent], devices: dict[str, Device]) -> list[Finding]:
    findings = []
    weak_events = defaultdict(list)
    for event in events:
        if event.kind is EventKind.WIFI_SIGNAL and event.state is EventState.WEAK and event.device_id:
            weak_events[event.device_id].append(event)
    for device in devices.values():
        rssi_weak = device.rssi_dbm is not None and device.rssi_dbm <= WEAK_RSSI_DBM
        lqi_weak = device.link_quality is not None and device.link_quality <= WEAK_LINK_QUALITY
        if not (rssi_weak or lqi_weak or weak_events.get(device.id)):
            continue
        figure = (
            f"{device.rssi_dbm:g} dBm"
            if device.rssi_dbm is not None
            else (f"link quality {device.link_quality}/255" if device.link_quality is not None else "weak")
        )
        name = device.name or device.id
        explanation, translations = explain_all(
            RootCause.WIFI_WEAK_SIGNAL,
            Facts(device=name, detail=f" ({figure})"),
            Facts(device=name, detail=f"（{figure}）"),
        )
        findings.append(
            Finding(
                root_cause=RootCause.WIFI_WEAK_SIGNAL,
                confidence=0.75,
                title=f"{name} has a weak signal ({figure})",
                explanation=explanation,
                translations=translations,
                evidence=weak_events.get(device.id, [])[:10],
                devices=[device.id],
            )
        )
    return findings


def _known_issues(
    restarts: dict[str, list[TimelineEvent]], devices: dict[str, Device], logs: Sequence[LogLine], profiles: ProfileSet
) -> list[Finding]:
    findings = []
    texts: dict[str, list[str]] = defaultdict(list)
    for line in logs:
        for device_id in _log_devices(line, devices):
            texts[device_id].append(line.message)
    for device in devices.values():
        profile = profiles.for_device(device)
        if profile is None:
            continue
        for issue in profile.known_issues:
            if not in_range(device.firmware, issue.firmware):
                continue
            if issue.pattern.device_class is not None and issue.pattern.device_class not in device_classes(device):
                continue
            if not matches(
                issue.pattern,
                texts.get(device.id, []) + [str(m) for m in device.attributes.values()],
                device.restart_reason,
                [str(e.detail.get("reason") or "") for e in restarts.get(device.id, [])],
                len(restarts.get(device.id, [])),
            ):
                continue
            # The restarts this issue explains: those for its reason when it names one.
            evidence = [
                e
                for e in restarts.get(device.id, [])
                if issue.pattern.restart_reason is None
                or re.search(issue.pattern.restart_reason, str(e.detail.get("reason") or ""))
            ][-10:]
            findings.append(_known_issue_finding(device, issue, evidence))
    return findings


def _known_issue_finding(device: Device, issue: KnownIssue, evidence: list[TimelineEvent]) -> Finding:
    """The finding names the known issue, where it is documented and the first firmware without it."""
    name = device.name or device.id
    fixed_en = f" Version {issue.fixed_in} fixes it: update the firmware." if issue.fixed_in else ""
    fixed_zh = f"{issue.fixed_in} 版本已修复此问题，请升级固件。" if issue.fixed_in else ""
    source_en = f" (documented at {issue.reference})" if issue.reference else ""
    source_zh = f"（公开记录：{issue.reference}）" if issue.reference else ""
    explanation, translations = explain_all(
        RootCause.FIRMWARE_KNOWN_ISSUE,
        Facts(device=name, detail=f"{issue.advice.en}{fixed_en}"),
        Facts(device=name, detail=f"{issue.advice.zh}{fixed_zh}"),
    )
    explanation = explanation.model_copy(update={"symptom": f"{name} shows a known problem: {issue.title}{source_en}."})
    translations["zh"] = translations["zh"].model_copy(
        update={"symptom": f"{name}出现已知问题：{issue.title_zh}{source_zh}。"}
    )
    return Finding(
        root_cause=RootCause.FIRMWARE_KNOWN_ISSUE,
        confidence=0.7,
        title=known_issue_title(name, issue),
        explanation=explanation,
        translations=translations,
        evidence=evidence,
        devices=[device.id],
        started_at=evidence[0].ts if evidence else None,
        ended_at=evidence[-1].ts if evidence else None,
        occurrences=max(1, len(evidence)),
    )


def _log_devices(line: LogLine, devices: dict[str, Device]) -> list[str]:
    if line.device_id and line.device_id in devices:
        return [line.device_id]
    named = [d.id for d in devices.values() if d.name and f"'{d.name}'" in line.message]
    return named


def matches(pattern, texts: list[str], restart_reason: str | None, reboot_reasons: list[str], restarts: int) -> bool:  # type: ignore[no-untyped-def]
    """A known issue's pattern against one device's evidence; every given part must hold."""
    if pattern.log is not None and not any(re.search(pattern.log, text) for text in texts):
        return False
    if pattern.restart_reason is not None:
        reasons = [r for r in [restart_reason, *reboot_reasons] if r]
        if not any(re.search(pattern.restart_reason, reason) for reason in reasons):
            return False
        if pattern.min_restarts is not None:
            # Restarts for that reason: one crash after a power cut is not "keeps crashing".
            restarts = max(sum(1 for r in reboot_reasons if re.search(pattern.restart_reason, r)), 1)
    if pattern.min_restarts is not None and restarts < pattern.min_restarts:
        return False
    return pattern.log is not None or pattern.restart_reason is not None or pattern.min_restarts is not None
