"""Hub findings: its own reboots and power losses, and clock jumps."""

from __future__ import annotations

from collections.abc import Sequence

from shared.models import EventKind, Finding, RootCause, TimelineEvent

from .text import Facts, explain_all


def hub_findings(events: Sequence[TimelineEvent]) -> list[Finding]:
    findings = []
    for event in events:
        if event.kind is EventKind.HUB_BOOT:
            cause = RootCause.HUB_POWER_LOSS if event.state == "power_loss" else RootCause.HUB_REBOOT
            when = f" at {event.ts:%Y-%m-%d %H:%M}"
            explanation, translations = explain_all(cause, Facts(detail=when), Facts(detail=f"（{event.ts:%Y-%m-%d %H:%M}）"))
            title = "The hub lost power" if cause is RootCause.HUB_POWER_LOSS else "The hub restarted"
            findings.append(Finding(root_cause=cause, confidence=0.85, title=title, explanation=explanation,
                                    translations=translations, evidence=[event], started_at=event.ts, ended_at=event.ts))
        elif event.kind is EventKind.CLOCK_JUMP:
            jump = float(event.detail.get("jump_s", 0))
            detail = f" by {abs(jump) / 60:.0f} minutes {'forward' if jump > 0 else 'backward'}"
            zh = f"（{'向前' if jump > 0 else '向后'} {abs(jump) / 60:.0f} 分钟）"
            explanation, translations = explain_all(RootCause.CLOCK_JUMP, Facts(detail=detail), Facts(detail=zh))
            findings.append(Finding(root_cause=RootCause.CLOCK_JUMP, confidence=0.9, title="The hub's clock jumped",
                                    explanation=explanation, translations=translations, evidence=[event],
                                    started_at=event.ts, ended_at=event.ts))
    return findings
