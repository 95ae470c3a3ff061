"""The moment a question is asked: what the recorder holds, reconciled with what the fresh checks say now.

The recorder lags the network by a probe or two: a check is recorded ``down`` only after a few failures, and
``up`` at the monitor's next round. A one-click pressed in those seconds sees fresh checks that disagree with the
recorder's last word. Each disagreement becomes an event at ``now``: a check failing now that the recorder still
calls up opens (or joins) an outage; a check passing now that the recorder still calls down ends the outage it
holds open. Then the outage folding (``agent.outages``) sees one consistent story, open or just closed.

The verdict is taken at that moment, in tiers: what is failing now; else the latest fault episode (faults that
touch each other, within ``EPISODE_GAP``: a router restart and the devices slow to come back after it) weighed
with the home's current conditions (a weak signal, a device gone for long); else a hub short of resources, which
rarely explains what the customer noticed. ``healthy`` only when nothing is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from shared.models import EventState, Finding, RootCause, TimelineEvent

from ..outages import NETWORK_KINDS

CHECK_SOURCE = "diagnose.check"
KIND_OF_CHECK = {name: kind for kind, name in NETWORK_KINDS.items()}
# Faults this close to each other are one episode (they touch: a router restart and the devices slow to come
# back after it start where it ends): about two probe rounds.
EPISODE_GAP = timedelta(seconds=5)
# Conditions rather than events: they decide only when no fault does.
STANDING = frozenset({RootCause.WIFI_WEAK_SIGNAL, RootCause.HUB_DEGRADED})
# A device away this long is a standing condition too (a dead battery, a plug pulled for good): it does not hide
# what just happened to the home.
LONG_GONE = timedelta(hours=1)


def reconcile(
    events: Sequence[TimelineEvent], checks: Sequence[Mapping[str, Any]], now: datetime
) -> list[TimelineEvent]:
    """Events at ``now`` for each fresh check that disagrees with its monitor's last recorded state."""
    last: dict[str, EventState] = {}
    for event in events:
        name = NETWORK_KINDS.get(event.kind)
        if name is not None and event.state in (EventState.UP, EventState.DOWN):
            last[name] = event.state
    added = []
    for check in checks:
        name, ok = check.get("name"), check.get("ok")
        if name not in KIND_OF_CHECK or ok is None:
            continue
        state = EventState.UP if ok else EventState.DOWN
        if last.get(name, EventState.UP) != state:
            added.append(
                TimelineEvent(
                    ts=now,
                    kind=KIND_OF_CHECK[name],
                    state=state,
                    source=CHECK_SOURCE,
                    detail={"detail": str(check.get("detail") or ""), "fresh_check": True},
                )
            )
    return added


def _span(finding: Finding) -> tuple[datetime, datetime] | None:
    if finding.started_at is None:
        return None
    return finding.started_at, finding.ended_at or finding.started_at


def _last_span(finding: Finding) -> tuple[datetime, datetime] | None:
    """Where a finding's last occurrence lies: merged repeats chain with what happened around the last one only
    (a plug away in the morning and again now does not pull the router's restart at noon into now's episode)."""
    span = _span(finding)
    if span is None or finding.occurrences == 1:
        return span
    last = finding.ended_at or max((e.ts for e in finding.evidence), default=span[0])
    return last, last


def latest_episode(findings: Sequence[Finding]) -> list[Finding]:
    """The findings of the last fault episode: the latest-ending one and those chained to it in time."""
    dated = sorted(
        ((span, f) for f in findings if (span := _last_span(f)) is not None), key=lambda item: item[0][1], reverse=True
    )
    if not dated:
        return []
    (start, _), first = dated[0]
    episode = [first]
    for (other_start, other_end), finding in dated[1:]:
        if other_end >= start - EPISODE_GAP:
            episode.append(finding)
            start = min(start, other_start)
    return episode


def _standing(finding: Finding, now: datetime) -> bool:
    return finding.root_cause in STANDING or (
        finding.root_cause is RootCause.DEVICE_OFFLINE
        and finding.ongoing
        and finding.started_at is not None
        and now - finding.started_at > LONG_GONE
    )


def deciding(findings: Sequence[Finding], now: datetime, focus: tuple[datetime, datetime] | None) -> list[Finding]:
    """The unexpected findings that decide the verdict at this moment (see the module's docstring)."""
    unexpected = [f for f in findings if not f.expected]
    faults = [f for f in unexpected if not _standing(f, now)]
    if focus is not None:
        focused = [f for f in faults if (span := _span(f)) is not None and span[0] <= focus[1] and span[1] >= focus[0]]
        if focused:
            return focused
    now_failing = [f for f in faults if f.ongoing]
    if now_failing:
        return now_failing
    # A weak signal or a device long gone is how the home is now: weighed (by severity) with the latest fault.
    current = [f for f in unexpected if _standing(f, now) and f.root_cause is not RootCause.HUB_DEGRADED]
    return latest_episode(faults) + current or unexpected
