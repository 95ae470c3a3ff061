"""The one-click page's states for the render and browser tests: every root cause, healthy, and mid-outage.

Network states come from the real ``diagnose()`` over monitor timelines and fresh checks as the agent records
them; the other root causes are findings built with the diagnosis's own texts (``explain_all``), with the
fields the diagnosis fills (devices, times, evidence), so every text the page can show is rendered.
Device payload shapes follow what discovery stores (``Device`` ids such as ``shelly:shellyplus1pm-…``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.diagnosis import diagnose
from agent.diagnosis.text import Facts, explain_all
from shared.models import (
    Device,
    DiagnosisReport,
    EventKind,
    EventState,
    Finding,
    Inventory,
    Priority,
    RootCause,
    TimelineEvent,
)
from shared.profiles import ProfileSet

NOW = datetime(2026, 12, 4, 16, 39, 0, tzinfo=UTC)
SHELLY = "shelly:shellyplus1pm-a8032ab12345"
ZIGBEE = "ieee:0x00124b0024c1a2b3"
LAMP = "tasmota:kitchen-lamp"

CHECKS_OK = [{"name": n, "ok": True, "detail": ""} for n in ("hub_link", "gateway", "dns", "internet", "broker")]


def inventory(weak: bool = True) -> Inventory:
    """The home's devices; with ``weak`` a Shelly relay far from the router and a Zigbee sensor far from the hub."""
    seen = NOW - timedelta(days=3)
    return Inventory(
        generated_at=NOW,
        devices=[
            Device(
                id=SHELLY,
                name="shellyplus1pm-a8032ab12345",
                family="shelly_gen2",
                first_seen=seen,
                last_seen=NOW,
                available=True,
                rssi_dbm=-86 if weak else -60,
            ),
            Device(
                id=ZIGBEE,
                name=None,
                family="zigbee2mqtt",
                first_seen=seen,
                last_seen=NOW,
                available=True,
                link_quality=31 if weak else 160,
                attributes={"suggested_area": "Bedroom"},
            ),
            Device(
                id=LAMP,
                name="Kitchen lamp",
                family="tasmota",
                first_seen=seen,
                last_seen=NOW,
                available=True,
                rssi_dbm=-55,
            ),
            Device(
                id="esphome:porch",
                name="Porch sensor",
                family="esphome",
                first_seen=seen,
                last_seen=NOW,
                available=True,
            ),
        ],
    )


def _event(
    ts: datetime, kind: EventKind, state: EventState | None = None, device: str | None = None, **detail: object
) -> TimelineEvent:
    source = f"monitor.{kind.value}" if device is None else "shelly"
    return TimelineEvent(ts=ts, kind=kind, state=state, source=source, device_id=device, detail=dict(detail))


def _outage(start: datetime, seconds: float, kinds: tuple[EventKind, ...]) -> list[TimelineEvent]:
    end = start + timedelta(seconds=seconds)
    return [_event(start, k, EventState.DOWN) for k in kinds] + [_event(end, k, EventState.UP) for k in kinds]


def _report(
    events: list[TimelineEvent], checks: Sequence[Mapping[str, object]] | None = None, *, weak: bool = False
) -> DiagnosisReport:
    return diagnose(events, inventory(weak=weak), {}, ProfileSet(()), NOW, checks if checks is not None else CHECKS_OK)


def weak_signals() -> DiagnosisReport:
    """The diagnosis of the home whose Shelly relay (Wi-Fi) and bedroom sensor (Zigbee) are far away."""
    return _report([], weak=True)


ROUTER = (EventKind.GATEWAY, EventKind.DNS, EventKind.INTERNET)


def mid_router_restart() -> DiagnosisReport:
    """Clicked 10 s into a router restart: the gateway, DNS and internet are down now."""
    start = NOW - timedelta(seconds=10)
    events = [_event(start, k, EventState.DOWN) for k in (*ROUTER, EventKind.HUB_LINK)]
    failing = [
        {"name": n, "ok": n == "broker", "detail": "no answer"}
        for n in ("hub_link", "gateway", "dns", "internet", "broker")
    ]
    return _report(events, failing)


def router_restarted_twice() -> DiagnosisReport:
    return _report(_outage(NOW - timedelta(minutes=40), 31, ROUTER) + _outage(NOW - timedelta(seconds=75), 29, ROUTER))


def healthy() -> DiagnosisReport:
    return _report([_event(NOW - timedelta(hours=2), EventKind.AGENT_START)])


def wan_outage() -> DiagnosisReport:
    return _report(_outage(NOW - timedelta(minutes=30), 240, (EventKind.INTERNET,)))


def dns_failure() -> DiagnosisReport:
    return _report(_outage(NOW - timedelta(hours=20), 95, (EventKind.DNS,)))


def _finding(
    cause: RootCause,
    devices: list[str],
    start: datetime | None,
    end: datetime | None,
    facts: Facts,
    zh: Facts,
    **fields: Any,
) -> Finding:
    explanation, translations = explain_all(cause, facts, zh)
    return Finding(
        root_cause=cause,
        confidence=0.8,
        title=cause.value,
        explanation=explanation,
        translations=translations,
        devices=devices,
        started_at=start,
        ended_at=end,
        **fields,
    )


def built(cause: RootCause) -> DiagnosisReport:
    """One finding of ``cause`` as the diagnosis words it, in a report with all checks fine."""
    raw = SHELLY
    t = NOW - timedelta(minutes=20)
    match cause:
        case RootCause.ROUTER_SCHEDULED_REBOOT:
            finding = _finding(
                cause,
                [SHELLY],
                NOW - timedelta(days=3),
                NOW - timedelta(hours=13),
                Facts(device=raw, time="03:00", minutes="about 2 minutes"),
                Facts(device=raw, time="03:00", minutes="约 2 分钟"),
                occurrences=3,
            )
        case RootCause.HUB_LINK_DOWN | RootCause.BROKER_DOWN:
            finding = _finding(
                cause,
                [],
                t,
                t + timedelta(seconds=33),
                Facts(minutes="less than a minute"),
                Facts(minutes="不到 1 分钟"),
            )
        case RootCause.BROKER_REFUSED:
            finding = _finding(
                cause, [], t, None, Facts(detail=" since 16:19"), Facts(detail="（16:19 起）"), ongoing=True
            )
        case RootCause.DEVICE_OFFLINE:
            finding = _finding(
                cause,
                [SHELLY],
                t,
                None,
                Facts(device=raw, detail=" at 16:19 and is still offline"),
                Facts(device=raw, detail="（16:19 起，至今未恢复）"),
            )
        case RootCause.DEVICE_REBOOT:
            finding = _finding(
                cause,
                [LAMP],
                t,
                t,
                Facts(device="Kitchen lamp", detail=" at 16:19"),
                Facts(device="Kitchen lamp", detail="（16:19）"),
            )
        case RootCause.DEVICE_CRASH_LOOP:
            reasons = [
                _event(
                    t + timedelta(minutes=i),
                    EventKind.DEVICE_REBOOT,
                    EventState.REBOOTED,
                    device="esphome:porch",
                    reason="Brownout",
                )
                for i in range(4)
            ]
            finding = _finding(
                cause,
                ["esphome:porch"],
                t,
                t + timedelta(minutes=3),
                Facts(device="Porch sensor", count=4),
                Facts(device="Porch sensor", count=4),
                evidence=reasons,
            )
        case RootCause.WIFI_WEAK_SIGNAL:
            finding = _finding(
                cause,
                [ZIGBEE],
                None,
                None,
                Facts(device=ZIGBEE, detail=" (link quality 31)"),
                Facts(device=ZIGBEE, detail="（连接质量 31）"),
            )
        case RootCause.HUB_REBOOT | RootCause.HUB_POWER_LOSS | RootCause.CLOCK_JUMP:
            finding = _finding(cause, [], t, t, Facts(detail=" at 16:19"), Facts(detail="（2026-12-04 16:19）"))
        case RootCause.HUB_DEGRADED:
            finding = _finding(cause, [], t, NOW, Facts(detail="storage 97% used"), Facts(detail="存储已用 97%"))
        case RootCause.FIRMWARE_KNOWN_ISSUE:
            finding = _finding(
                cause,
                [LAMP],
                t,
                t,
                Facts(device="Kitchen lamp", detail="update to 14.3 or later"),
                Facts(device="Kitchen lamp", detail="请升级到 14.3 或更高版本"),
            )
        case _:
            raise ValueError(cause)
    return DiagnosisReport(
        generated_at=NOW, verdict=cause, priority=Priority.P2, findings=[finding], checks={"live": CHECKS_OK}
    )


def every_state() -> dict[str, DiagnosisReport]:
    """Name → report: each root cause, healthy, and the click during a router restart."""
    states = {
        "healthy": healthy(),
        "mid_router_restart": mid_router_restart(),
        "router_reboot": router_restarted_twice(),
        "wan_outage": wan_outage(),
        "dns_failure": dns_failure(),
    }
    for cause in RootCause:
        if cause.value not in states and cause is not RootCause.HEALTHY:
            states[cause.value] = built(cause)
    return states


def every_finding(states: dict[str, DiagnosisReport]) -> DiagnosisReport:
    """One report with the findings of every state but the healthy one: every card on one page."""
    findings = [
        f
        for name, report in states.items()
        if name != "healthy"
        for f in report.findings
        if f.root_cause is not RootCause.HEALTHY
    ]
    return DiagnosisReport(
        generated_at=NOW,
        verdict=RootCause.HUB_LINK_DOWN,
        priority=Priority.P1,
        findings=findings,
        checks=states["mid_router_restart"].checks,
    )
