"""Hub findings: its own reboots and power losses, clock jumps, and running short of storage, memory or cooling."""

from __future__ import annotations

from collections.abc import Sequence

from shared.models import EventKind, EventState, Finding, RootCause, TimelineEvent

from .text import Facts, explain_all

# Each ``degraded`` reason: the health figure behind it, what the hub is short of, and how to say it.
DEGRADED_WORDING = {
    "disk": ("disk_percent", "storage", "its storage is {:.0f}% full", "存储空间已用 {:.0f}%"),
    "memory": ("memory_percent", "memory", "its memory is {:.0f}% used", "内存已用 {:.0f}%"),
    "temperature": ("temperature_max_c", "cooling", "it runs at {:.0f} °C", "温度达到 {:.0f} °C"),
}


def degraded_spans(events: Sequence[TimelineEvent]) -> list[list[TimelineEvent]]:
    """Runs of consecutive ``degraded`` health samples (an ``ok`` sample ends a run); the last may still run."""
    spans: list[list[TimelineEvent]] = []
    current: list[TimelineEvent] = []
    for event in events:
        if event.kind is not EventKind.HUB_HEALTH:
            continue
        if event.state is EventState.DEGRADED:
            current.append(event)
        elif current:
            spans.append(current)
            current = []
    return spans + ([current] if current else [])


def _degraded_finding(span: list[TimelineEvent], recovered: bool) -> Finding:
    latest = span[-1]
    reasons = [r for r in latest.detail.get("reasons", []) if r in DEGRADED_WORDING]
    short_of, en, zh = [], [], []
    for reason in reasons:
        figure, lacking, english, chinese = DEGRADED_WORDING[reason]
        value = float(latest.detail.get(figure) or 0)
        short_of.append(lacking)
        en.append(english.format(value))
        zh.append(chinese.format(value))
    until_en, until_zh = (f" (until {latest.ts:%H:%M})", f"（持续到 {latest.ts:%H:%M}）") if recovered else ("", "")
    explanation, translations = explain_all(
        RootCause.HUB_DEGRADED,
        Facts(detail=(", ".join(en) or "it is short of resources") + until_en),
        Facts(detail=("，".join(zh) or "资源不足") + until_zh),
    )
    return Finding(
        root_cause=RootCause.HUB_DEGRADED,
        confidence=0.8,
        title=f"The hub is short of {' and '.join(short_of) or 'resources'}",
        explanation=explanation,
        translations=translations,
        evidence=[span[0], latest],
        started_at=span[0].ts,
        ended_at=latest.ts,
        ongoing=not recovered,
    )


def hub_findings(events: Sequence[TimelineEvent]) -> list[Finding]:
    spans = degraded_spans(events)
    samples = [e for e in events if e.kind is EventKind.HUB_HEALTH]
    findings = [_degraded_finding(span, recovered=span[-1] is not samples[-1]) for span in spans]
    for event in events:
        if event.kind is EventKind.HUB_BOOT:
            cause = RootCause.HUB_POWER_LOSS if event.state is EventState.POWER_LOSS else RootCause.HUB_REBOOT
            when = f" at {event.ts:%Y-%m-%d %H:%M}"
            explanation, translations = explain_all(
                cause, Facts(detail=when), Facts(detail=f"（{event.ts:%Y-%m-%d %H:%M}）")
            )
            title = "The hub lost power" if cause is RootCause.HUB_POWER_LOSS else "The hub restarted"
            findings.append(
                Finding(
                    root_cause=cause,
                    confidence=0.85,
                    title=title,
                    explanation=explanation,
                    translations=translations,
                    evidence=[event],
                    started_at=event.ts,
                    ended_at=event.ts,
                )
            )
        elif event.kind is EventKind.CLOCK_JUMP:
            jump = float(event.detail.get("jump_s", 0))
            detail = f" by {abs(jump) / 60:.0f} minutes {'forward' if jump > 0 else 'backward'}"
            zh = f"（{'向前' if jump > 0 else '向后'} {abs(jump) / 60:.0f} 分钟）"
            explanation, translations = explain_all(RootCause.CLOCK_JUMP, Facts(detail=detail), Facts(detail=zh))
            findings.append(
                Finding(
                    root_cause=RootCause.CLOCK_JUMP,
                    confidence=0.9,
                    title="The hub's clock jumped",
                    explanation=explanation,
                    translations=translations,
                    evidence=[event],
                    started_at=event.ts,
                    ended_at=event.ts,
                )
            )
    return findings
