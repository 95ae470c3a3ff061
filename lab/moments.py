"""The one click at any moment of a fault: before it, during it, in the seconds after it ends, minutes and hours
later, after its bundle was sent.

A lab run (``lab.scenarios.moment_scenarios``) injects each fault kind for real, one after the other, and keeps
what the agent recorded (``Recording``: the timeline, the inventory, and each fault's injection times). The
clicks are then replayed at moments drawn at random (``clicks``): the diagnosis is pure, so a click at moment
``t`` is the diagnosis of what the recorder held at ``t`` with the fresh checks of ``t``, at the clock ``now``.

What the recorder held at ``t`` lags the network as the real monitor does: a check is written ``down`` only
after ``failures_before_down`` failed rounds (dated at the first failure) and ``up`` at the next round after the
recovery; the lags are drawn per click within the production defaults (2 s rounds, 2 failures, 1 s timeout),
longer than the lab's. The fresh checks of ``t`` are each monitor's true state at ``t`` (its latest recorded
transition at or before ``t``); devices' availability reaches the recorder as it happens, as it does over MQTT.
Minutes and hours later are the recording as it stood before the next fault, asked with a later clock.

Which answers are right (``Expectation``): while a fault is observable (from its first evidence in the
recording to its last) its own cause, or its early look (a crash loop is an absence, then a restart, before the
third restart makes it a loop; a pulled hub cable looks like a router restart until the router answers with
its old BOOTID); after it, its cause; before the first fault, ``healthy``. Clicks between a fault's injection
and its first evidence are not drawn: nothing on the hub can know yet.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agent.diagnosis import diagnose
from agent.outages import NETWORK_KINDS
from shared.models import EventKind, EventState, Inventory, TimelineEvent
from shared.profiles import ProfileSet

# The production monitor's pace (agent.config ProbesConfig defaults): the recorder's lag is drawn within it.
PROBE_INTERVAL_S = 2.0
FAILURES_BEFORE_DOWN = 2
PROBE_TIMEOUT_S = 1.0
EVIDENCE_AFTER = timedelta(seconds=40)  # a fault's last evidence (devices back, the router's word) lies within this


@dataclass(frozen=True)
class Expectation:
    during: frozenset[str]  # right while the fault is observable (besides ``after``)
    after: frozenset[str]  # right once it is over


def _expect(after: str, *early: str) -> Expectation:
    return Expectation(frozenset(early), frozenset({after}))


EXPECTED = {
    "device_power_off": _expect("device_offline"),
    # Before the third restart it is an absence, a restart, or — the device's profile knowing crashes of this
    # kind from two on — its known firmware issue.
    "device_crash_loop": _expect("device_crash_loop", "device_offline", "device_reboot", "firmware_known_issue"),
    "device_restart": _expect("device_reboot", "device_offline"),
    # A single reset for a reason the device's profile knows (ESPHome brownout): the known issue once reported.
    "device_brownout": _expect("firmware_known_issue", "device_offline", "device_reboot"),
    "wan_outage": _expect("wan_outage"),
    "dns_failure": _expect("dns_failure"),
    "broker_crash": _expect("broker_down"),
    "router_reboot": _expect("router_reboot"),
    "hub_unplugged": _expect("hub_link_down", "router_reboot"),
    "broker_login_required": _expect("broker_refused"),
}


@dataclass(frozen=True)
class InjectedFault:
    kind: str  # a key of EXPECTED
    started_at: datetime
    ended_at: datetime
    device: str | None = None  # the agent's id of the device concerned
    bundle_at: datetime | None = None  # when the collector had its bundle

    def to_json(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InjectedFault:
        bundle_at = data.get("bundle_at")
        return cls(
            kind=data["kind"],
            started_at=datetime.fromisoformat(data["started_at"]),
            ended_at=datetime.fromisoformat(data["ended_at"]),
            device=data.get("device"),
            bundle_at=datetime.fromisoformat(bundle_at) if bundle_at else None,
        )


@dataclass
class Recording:
    events: list[TimelineEvent]
    inventory: Inventory
    faults: list[InjectedFault]
    real_clicks: list[dict[str, Any]] = field(default_factory=list)  # {"at", "verdict"} of one-clicks run in the lab

    def save(self, path: Path) -> None:
        data = {
            "faults": [f.to_json() for f in self.faults],
            "inventory": self.inventory.model_dump(mode="json"),
            "real_clicks": self.real_clicks,
            "events": [e.model_dump(mode="json") for e in self.events],
        }
        path.write_bytes(gzip.compress(json.dumps(data, sort_keys=True).encode(), mtime=0))

    @classmethod
    def load(cls, path: Path) -> Recording:
        data = json.loads(gzip.decompress(path.read_bytes()))
        return cls(
            [TimelineEvent.model_validate(e) for e in data["events"]],
            Inventory.model_validate(data["inventory"]),
            [InjectedFault.from_json(f) for f in data["faults"]],
            data.get("real_clicks", []),
        )


@dataclass(frozen=True)
class Click:
    fault: str
    phase: str
    offset_s: float  # from the fault's injection (before, during) or its end (after)
    expected: frozenset[str]
    verdict: str
    real: bool = False

    @property
    def right(self) -> bool:
        return self.verdict in self.expected

    @property
    def false_healthy(self) -> bool:
        return self.verdict == "healthy" and "healthy" not in self.expected


@dataclass(frozen=True)
class _Span:
    fault: InjectedFault
    first: datetime  # its first evidence in the recording
    last: datetime  # its last


def _concerns(fault: InjectedFault, event: TimelineEvent) -> bool:
    if fault.device is not None:
        return event.device_id == fault.device and event.kind in (
            EventKind.DEVICE_AVAILABILITY,
            EventKind.DEVICE_REBOOT,
        )
    if fault.kind == "broker_login_required":
        return event.kind is EventKind.BROKER and event.state in (EventState.REFUSED, EventState.ACCEPTED)
    if fault.kind == "hub_unplugged" and event.kind is EventKind.ROUTER_BOOT_ID:
        return event.state in (EventState.SAME, EventState.CHANGED)
    return (
        event.kind in NETWORK_KINDS
        and event.source.startswith("monitor.")
        and event.state in (EventState.UP, EventState.DOWN)
    )


def spans(recording: Recording) -> list[_Span]:
    """Each fault from its first to its last evidence in the recording (within ``EVIDENCE_AFTER`` of its end)."""
    found = []
    for fault in recording.faults:
        evidence = [
            e.ts
            for e in recording.events
            if fault.started_at - timedelta(seconds=1) <= e.ts <= fault.ended_at + EVIDENCE_AFTER
            and _concerns(fault, e)
        ]
        if evidence:
            found.append(_Span(fault, min(evidence), max(max(evidence), fault.ended_at)))
    return found


def expected_at(moment: datetime, known: Sequence[_Span]) -> frozenset[str]:
    active = [s for s in known if s.first <= moment <= s.last]
    if active:
        expectation = EXPECTED[active[-1].fault.kind]
        return expectation.during | expectation.after
    over = [s for s in known if s.last < moment]
    return EXPECTED[over[-1].fault.kind].after if over else frozenset({"healthy"})


def _lag(event: TimelineEvent, rng: random.Random) -> timedelta:
    if event.kind not in NETWORK_KINDS or not event.source.startswith("monitor."):
        return timedelta()
    if event.state is EventState.DOWN:
        return timedelta(
            seconds=rng.uniform(
                (FAILURES_BEFORE_DOWN - 1) * PROBE_INTERVAL_S, FAILURES_BEFORE_DOWN * PROBE_INTERVAL_S + PROBE_TIMEOUT_S
            )
        )
    return timedelta(seconds=rng.uniform(0, PROBE_INTERVAL_S + PROBE_TIMEOUT_S))


def _fresh_checks(events: Sequence[TimelineEvent], moment: datetime) -> list[dict[str, Any]]:
    state: dict[str, bool] = {}
    for event in events:
        name = NETWORK_KINDS.get(event.kind)
        if (
            event.ts <= moment
            and name is not None
            and event.source.startswith("monitor.")
            and event.state in (EventState.UP, EventState.DOWN)
        ):
            state[name] = event.state is EventState.UP
    return [{"name": name, "ok": ok, "detail": "replayed"} for name, ok in state.items()]


def _timeless(inventory: Inventory) -> Inventory:
    """The inventory without what changes over the run (it was saved at its end): availability, uptime, the last
    restart reason; the timeline says those as of each moment."""
    devices = [
        d.model_copy(update={"available": None, "uptime_s": None, "restart_reason": None}) for d in inventory.devices
    ]
    return inventory.model_copy(update={"devices": devices})


def click(recording: Recording, profiles: ProfileSet, moment: datetime, now: datetime, rng: random.Random) -> str:
    """The one click's verdict at ``moment`` (the recorder as it stood then, the fresh checks of then), asked at
    clock ``now`` (later than ``moment`` when nothing happened in between)."""
    lags = {id(e): _lag(e, rng) for e in recording.events}
    held = [e for e in recording.events if e.ts + lags[id(e)] <= moment]
    report = diagnose(held, _timeless(recording.inventory), {}, profiles, now, _fresh_checks(recording.events, moment))
    return report.verdict.value


def _moments(span: _Span, following: datetime | None, rng: random.Random) -> Iterator[tuple[str, datetime, datetime]]:
    """(phase, moment, clock) for one fault: clicks before, during, right after, later, after its bundle."""
    fault, end = span.fault, span.fault.ended_at
    quiet_until = following - timedelta(seconds=1) if following is not None else None
    for _ in range(2):
        yield "before", span.fault.started_at - timedelta(seconds=rng.uniform(1, 10)), span.fault.started_at
    if span.last > span.first:
        for _ in range(6):
            at = span.first + (span.last - span.first) * rng.random()
            yield "during", at, at
    for _ in range(6):
        at = end + timedelta(seconds=rng.uniform(0, 3))
        yield "0-3 s after", at, at
    for _ in range(3):
        at = end + timedelta(seconds=rng.uniform(3, 30))
        if quiet_until is None or at < quiet_until:
            yield "seconds after", at, at
    settled = quiet_until or span.last + EVIDENCE_AFTER
    for _ in range(2):
        yield "minutes after", settled, span.last + timedelta(minutes=rng.uniform(1, 30))
        yield "hours after", settled, span.last + timedelta(hours=rng.uniform(1, 20))
    if fault.bundle_at is not None:
        for _ in range(2):
            at = fault.bundle_at + timedelta(seconds=rng.uniform(0, 5))
            if quiet_until is None or at < quiet_until:
                yield "after its bundle", at, at


def clicks(recording: Recording, profiles: ProfileSet, seed: int) -> list[Click]:
    """The one click at moments drawn at random (``seed``) around every fault, plus the real clicks of the run."""
    rng = random.Random(seed)
    known = spans(recording)
    planned = []
    for index, span in enumerate(known):
        following = known[index + 1].fault.started_at if index + 1 < len(known) else None
        for phase, moment, now in _moments(span, following, rng):
            offset = moment - (span.fault.started_at if phase in ("before", "during") else span.fault.ended_at)
            planned.append((span.fault.kind, phase, offset.total_seconds(), moment, now))
    made = [
        Click(kind, phase, offset, expected_at(moment, known), click(recording, profiles, moment, now, rng))
        for kind, phase, offset, moment, now in planned
    ]
    for real in recording.real_clicks:
        moment = datetime.fromisoformat(real["at"])
        made.append(
            Click(
                real["fault"], real["phase"], real["offset_s"], expected_at(moment, known), real["verdict"], real=True
            )
        )
    return made


def summary(made: Sequence[Click], seed: int) -> str:
    right = sum(c.right for c in made)
    real = [c for c in made if c.real]
    return (
        f"click at any moment (seed {seed}): faults {len({c.fault for c in made})}, clicks {len(made)} "
        f"({len(real)} real one-clicks in the lab, {sum(c.right for c in real)} right), right {right} "
        f"({right / max(1, len(made)):.0%}), false healthy {sum(c.false_healthy for c in made)}"
    )
