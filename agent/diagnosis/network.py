"""Network findings: each outage classified, recurring router reboots at the same time of day, and how the
devices came back (within their family's normal reconnect time: expected; later: a finding of their own)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from shared.models import Device, EventKind, EventState, Finding, RootCause, TimelineEvent
from shared.profiles import ProfileSet

from ..outages import NETWORK_KINDS, Outage, classify, outages
from .devices import join_en, when_format
from .text import Facts, explain_all, explain_normal_reconnect, explain_now

SCHEDULE_MIN_DAYS = 3  # reboots on this many different days …
SCHEDULE_TOLERANCE = timedelta(minutes=45)  # … within this much of the same time of day
DEFAULT_RECONNECT_S = 120.0


def _minutes(outage: Outage, language: str = "en") -> str:
    return duration_text(outage.duration or timedelta(), language)


def duration_text(duration: timedelta, language: str = "en") -> str:
    minutes = round(duration.total_seconds() / 60)
    if language == "zh":
        return f"约 {minutes} 分钟" if minutes >= 1 else "不到 1 分钟"
    if minutes < 1:
        return "less than a minute"
    return f"about {minutes} minute{'s' if minutes != 1 else ''}"


def _evidence(events: Sequence[TimelineEvent], start: datetime, end: datetime) -> list[TimelineEvent]:
    return [
        e
        for e in events
        if e.kind in NETWORK_KINDS or e.kind is EventKind.ROUTER_BOOT_ID
        if start - timedelta(seconds=5) <= e.ts <= end + timedelta(seconds=5)
    ][:40]


def _time_of_day_minutes(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


def scheduled(reboots: list[Outage]) -> list[Outage] | None:
    """The largest set of reboots on different days at about the same time of day, if it is a schedule."""
    best: list[Outage] = []
    for anchor in reboots:
        around = []
        for other in reboots:
            gap = abs(_time_of_day_minutes(other.start) - _time_of_day_minutes(anchor.start))
            if min(gap, 1440 - gap) <= SCHEDULE_TOLERANCE.total_seconds() / 60:
                around.append(other)
        days = {o.start.date() for o in around}
        if len(days) >= SCHEDULE_MIN_DAYS and len(around) > len(best):
            best = around
    return best or None


def _device_name(devices: dict[str, Device], device_id: str) -> str:
    device = devices.get(device_id)
    return (device.name or device_id) if device else device_id


def network_findings(
    events: Sequence[TimelineEvent], devices: dict[str, Device], profiles: ProfileSet, affected: str, now: datetime
) -> list[Finding]:
    findings: list[Finding] = []
    every = outages(events)
    found = [o for o in every if o.end is not None]
    findings += [_ongoing(events, outage, now) for outage in every if outage.end is None]
    causes = [(outage, classify(outage)) for outage in found]
    reboots = [o for o, cause in causes if cause is RootCause.ROUTER_REBOOT]
    schedule = scheduled(reboots)
    if schedule:
        typical = sorted(schedule, key=lambda o: _time_of_day_minutes(o.start))[len(schedule) // 2]
        average = sum(((o.duration or timedelta()) for o in schedule), timedelta()) / len(schedule)
        facts = Facts(
            device=affected, time=typical.start.strftime("%H:%M"), minutes=duration_text(average), count=len(schedule)
        )
        zh = Facts(
            device=affected if affected != "your devices" else "您的设备",
            time=facts.time,
            minutes=duration_text(average, "zh"),
            count=facts.count,
        )
        explanation, translations = explain_all(RootCause.ROUTER_SCHEDULED_REBOOT, facts, zh)
        findings.append(
            Finding(
                root_cause=RootCause.ROUTER_SCHEDULED_REBOOT,
                confidence=min(0.95, 0.6 + 0.1 * len(schedule)),
                title=f"The router restarts every day around {facts.time}",
                explanation=explanation,
                translations=translations,
                evidence=[e for o in schedule if o.end for e in _evidence(events, o.start, o.end)][:60],
                started_at=schedule[0].start,
                ended_at=schedule[-1].end,
            )
        )
    for outage, cause in causes:
        if schedule and outage in schedule:
            continue
        facts = Facts(minutes=_minutes(outage))
        explanation, translations = explain_all(cause, facts, Facts(minutes=_minutes(outage, "zh")))
        assert outage.end is not None
        confidence = 0.9 if cause is RootCause.ROUTER_REBOOT and outage.boot_id_changed else 0.8
        findings.append(
            Finding(
                root_cause=cause,
                confidence=confidence,
                title=_TITLES[cause],
                explanation=explanation,
                translations=translations,
                evidence=_evidence(events, outage.start, outage.end),
                started_at=outage.start,
                ended_at=outage.end,
            )
        )
    findings += _reconnects(events, devices, profiles, [o for o, c in causes if c is RootCause.ROUTER_REBOOT])
    findings += _refusals(events)
    return findings


def _ongoing(events: Sequence[TimelineEvent], outage: Outage, now: datetime) -> Finding:
    """An outage still open now (the recorder has not seen it end and a fresh check, if any, still fails): the
    cause as it looks so far, in the present tense."""
    cause = classify(replace(outage, end=max(now, outage.start)))
    if cause is RootCause.ROUTER_SCHEDULED_REBOOT:
        cause = RootCause.ROUTER_REBOOT  # one restart so far; whether it is the nightly one shows once it is over
    lasted = max(now - outage.start, timedelta())
    explanation, translations = explain_now(
        cause, Facts(minutes=duration_text(lasted)), Facts(minutes=duration_text(lasted, "zh"))
    )
    # Everything going down together is what a restarting router looks like, but a loose cable looks the same
    # until the router tells its BOOTID: less sure while it lasts than once it is over.
    confidence = 0.6 if cause is RootCause.ROUTER_REBOOT and not outage.boot_id_changed else 0.85
    return Finding(
        root_cause=cause,
        confidence=confidence,
        title=_NOW_TITLES[cause] + f" (since {outage.start:%H:%M:%S})",
        explanation=explanation,
        translations=translations,
        ongoing=True,
        evidence=_evidence(events, outage.start, now),
        started_at=outage.start,
    )


def _refusals(events: Sequence[TimelineEvent]) -> list[Finding]:
    """Each span in which the broker refused the hub's session (``refused`` … ``accepted``, or still now)."""
    findings = []
    start: TimelineEvent | None = None
    for event in events:
        if event.kind is not EventKind.BROKER or event.state not in (EventState.REFUSED, EventState.ACCEPTED):
            continue
        if event.state is EventState.REFUSED and start is None:
            start = event
        elif event.state is EventState.ACCEPTED and start is not None:
            findings.append(_refusal(start, event))
            start = None
    return findings + ([_refusal(start, None)] if start is not None else [])


def _refusal(start: TimelineEvent, end: TimelineEvent | None) -> Finding:
    reason = str(start.detail.get("reason") or "")
    when_en = f" since {start.ts:%H:%M}" if end is None else f" from {start.ts:%H:%M} to {end.ts:%H:%M}"
    when_zh = f"（自 {start.ts:%H:%M} 起）" if end is None else f"（{start.ts:%H:%M} 至 {end.ts:%H:%M}）"
    explanation, translations = explain_all(RootCause.BROKER_REFUSED, Facts(detail=when_en), Facts(detail=when_zh))
    return Finding(
        root_cause=RootCause.BROKER_REFUSED,
        confidence=0.9,
        title=f"The broker refuses the hub's login ({reason})" if reason else "The broker refuses the hub's login",
        explanation=explanation,
        translations=translations,
        evidence=[start] + ([end] if end is not None else []),
        started_at=start.ts,
        ended_at=None if end is None else end.ts,
        ongoing=end is None,
    )


def _reconnects(
    events: Sequence[TimelineEvent], devices: dict[str, Device], profiles: ProfileSet, reboots: list[Outage]
) -> list[Finding]:
    """After each router reboot: devices back within their normal time are expected; slow ones are findings."""
    findings = []
    slow: dict[str, list[tuple[Outage, TimelineEvent, float]]] = {}
    for outage in reboots:
        assert outage.end is not None
        returns: dict[str, TimelineEvent] = {}
        for event in events:
            if (
                event.kind is EventKind.DEVICE_AVAILABILITY
                and event.state is EventState.ONLINE
                and event.device_id
                and outage.end <= event.ts <= outage.end + timedelta(hours=1)
                and event.device_id not in returns
            ):
                returns[event.device_id] = event
        on_time: list[tuple[str, TimelineEvent, float]] = []
        late: list[tuple[str, TimelineEvent, float]] = []
        for device_id, event in returns.items():
            device = devices.get(device_id)
            timing = profiles.normal_for(device) if device else None
            normal = timing.reconnect_after_router_reboot_s if timing else DEFAULT_RECONNECT_S
            (on_time if (event.ts - outage.end).total_seconds() <= normal else late).append((device_id, event, normal))
        if on_time:
            names = ", ".join(sorted(_device_name(devices, d) for d, _, _ in on_time))
            explanation, translations = explain_normal_reconnect(len(on_time), names)
            findings.append(
                Finding(
                    root_cause=RootCause.ROUTER_REBOOT,
                    confidence=0.8,
                    expected=True,
                    title=f"{len(on_time)} devices reconnected normally after the router restart ({names})",
                    explanation=explanation,
                    translations=translations,
                    evidence=[e for _, e, _ in on_time][:40],
                    devices=[d for d, _, _ in on_time],
                    started_at=outage.start,
                    ended_at=outage.end,
                )
            )
        for device_id, event, normal in late:
            slow.setdefault(device_id, []).append((outage, event, normal))
    return findings + [_slow_finding(devices, device_id, returns) for device_id, returns in slow.items()]


def _slow_finding(
    devices: dict[str, Device], device_id: str, returns: list[tuple[Outage, TimelineEvent, float]]
) -> Finding:
    """One device slow to come back after one or more router restarts: one finding, each time dated."""
    name = _device_name(devices, device_id)
    fmt = when_format([outage.start for outage, _, _ in returns])
    # Each restart with its delay, paired in one pass so a skipped restart cannot shift the pairs.
    delays = [(outage.start, (event.ts - outage.end).total_seconds()) for outage, event, _ in returns if outage.end]
    en = [f"{delay:.0f} s after the {start:{fmt}} restart" for start, delay in delays]
    zh = [f"{start:{fmt}} 重启后 {delay:.0f} 秒" for start, delay in delays]
    normal = returns[0][2]
    if len(returns) == 1:
        facts = Facts(
            device=name,
            detail=f" after the router restarted at {returns[0][0].start:{fmt}} and came back "
            f"only {delays[0][1]:.0f} s later (normal: within {normal:.0f} s)",
        )
        zh_facts = Facts(device=name, detail=f"，路由器在 {zh[0]}才恢复（正常为 {normal:.0f} 秒内）")
    else:
        facts = Facts(
            device=name,
            detail=f" {len(returns)} times after router restarts and came back late each time: "
            f"{join_en(en)} (normal: within {normal:.0f} s)",
        )
        zh_facts = Facts(
            device=name,
            detail=f"，路由器重启后共 {len(returns)} 次恢复过慢：{'、'.join(zh)}（正常为 {normal:.0f} 秒内）",
        )
    explanation, translations = explain_all(RootCause.DEVICE_OFFLINE, facts, zh_facts)
    title = f"{name} was slow to reconnect" + (f" ({len(returns)} times)" if len(returns) > 1 else "")
    first, last = returns[0], returns[-1]
    assert first[0].end is not None
    return Finding(
        root_cause=RootCause.DEVICE_OFFLINE,
        confidence=0.7,
        title=title,
        explanation=explanation,
        translations=translations,
        evidence=[event for _, event, _ in returns][-40:],
        devices=[device_id],
        started_at=first[0].end,
        ended_at=last[1].ts,
        occurrences=len(returns),
    )


_NOW_TITLES = {
    RootCause.ROUTER_REBOOT: "The router does not answer: it is probably restarting",
    RootCause.WAN_OUTAGE: "The internet connection is down",
    RootCause.DNS_FAILURE: "Name lookups (DNS) are failing",
    RootCause.HUB_LINK_DOWN: "The hub has lost its network link",
    RootCause.BROKER_DOWN: "The hub's MQTT broker is down",
}
_TITLES = {
    RootCause.ROUTER_REBOOT: "The home router restarted",
    RootCause.WAN_OUTAGE: "The internet connection was down",
    RootCause.DNS_FAILURE: "Name lookups (DNS) failed",
    RootCause.HUB_LINK_DOWN: "The hub lost its network link",
    RootCause.BROKER_DOWN: "The hub's MQTT broker was down",
}
