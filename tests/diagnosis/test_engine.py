"""The diagnosis engine on synthetic timelines: one scenario per root cause, and the curtain case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.diagnosis import diagnose
from shared.models import Device, EventKind, EventState, Inventory, RootCause, TimelineEvent
from shared.profiles import load_profiles

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PROFILES = load_profiles()


def ev(at: datetime, kind: EventKind, state: EventState, device: str | None = None, **detail: object) -> TimelineEvent:
    return TimelineEvent(ts=at, kind=kind, state=state, source="test", device_id=device, detail=detail)


def device(id: str, family: str, **fields: Any) -> Device:
    return Device(
        id=id, name=id, family=family, first_seen=NOW - timedelta(days=30), last_seen=NOW, available=True, **fields
    )


HOME = Inventory(
    generated_at=NOW,
    devices=[
        device("curtain", "zigbee2mqtt", manufacturer="Aqara", model="ZNCLDJ11LM"),
        device("plug", "tasmota", firmware="14.4.1", rssi_dbm=-60),
        device("speaker", "sonos"),
    ],
)


def router_reboot(
    start: datetime, seconds: float = 240, devices: dict[str, float] | None = None
) -> list[TimelineEvent]:
    end = start + timedelta(seconds=seconds)
    events = []
    for kind in (EventKind.HUB_LINK, EventKind.GATEWAY, EventKind.DNS, EventKind.INTERNET):
        events += [ev(start, kind, EventState.DOWN), ev(end, kind, EventState.UP)]
    for name, back_after in (devices or {}).items():
        events += [
            ev(start + timedelta(seconds=15), EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, name),
            ev(end + timedelta(seconds=back_after), EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, name),
        ]
    return events


def run(events: list[TimelineEvent], inventory: Inventory = HOME, checks=()):  # type: ignore[no-untyped-def]
    return diagnose(events, inventory, {}, PROFILES, NOW, checks)


def causes(report) -> list[RootCause]:  # type: ignore[no-untyped-def]
    return [f.root_cause for f in report.findings if not f.expected]


def test_the_curtain_case_nightly_router_reboot() -> None:
    events = []
    for day in range(4):
        night = (NOW - timedelta(days=day + 1)).replace(hour=3, minute=2 + day * 3)
        events += router_reboot(night, devices={"curtain": 10})
    report = run(events)
    assert report.verdict is RootCause.ROUTER_SCHEDULED_REBOOT and report.priority == "P2"
    finding = report.findings[0]
    assert "03:0" in finding.explanation.symptom and "curtain" in finding.explanation.symptom
    assert "4 minutes" in finding.explanation.symptom and "restart" in finding.explanation.root_cause
    assert (
        finding.translations["zh"].symptom.startswith("Your curtain") or "curtain" in finding.translations["zh"].symptom
    )
    assert any(f.expected and f.devices == ["curtain"] for f in report.findings)


def test_a_single_router_reboot_with_a_slow_device() -> None:
    report = run(router_reboot(NOW - timedelta(hours=2), devices={"curtain": 5, "plug": 400}))
    assert report.verdict is RootCause.ROUTER_REBOOT
    slow = [f for f in report.findings if f.root_cause is RootCause.DEVICE_OFFLINE]
    assert [f.devices for f in slow] == [["plug"]]
    assert [f.devices for f in report.findings if f.expected] == [["curtain"]]


@pytest.mark.parametrize(
    ("kinds", "cause"),
    [
        ((EventKind.INTERNET,), RootCause.WAN_OUTAGE),
        ((EventKind.DNS,), RootCause.DNS_FAILURE),
        ((EventKind.BROKER,), RootCause.BROKER_DOWN),
    ],
)
def test_network_outages_by_signature(kinds, cause) -> None:  # type: ignore[no-untyped-def]
    start = NOW - timedelta(hours=1)
    events = [
        e
        for kind in kinds
        for e in (ev(start, kind, EventState.DOWN), ev(start + timedelta(minutes=3), kind, EventState.UP))
    ]
    assert run(events).verdict is cause


def test_hub_link_down_for_long() -> None:
    start = NOW - timedelta(hours=3)
    events = [
        ev(start, EventKind.HUB_LINK, EventState.DOWN),
        ev(start + timedelta(minutes=40), EventKind.HUB_LINK, EventState.UP),
    ]
    report = run(events)
    assert report.verdict is RootCause.HUB_LINK_DOWN and report.priority == "P1"


def test_device_offline_reboot_and_crash_loop() -> None:
    start = NOW - timedelta(hours=1)
    offline = run([ev(start, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, "speaker")])
    assert offline.verdict is RootCause.DEVICE_OFFLINE and "still offline" in offline.findings[0].explanation.symptom
    reboot = run([ev(start, EventKind.DEVICE_REBOOT, EventState.REBOOTED, "plug", reason="Power On")])
    assert reboot.verdict is RootCause.DEVICE_REBOOT and reboot.priority == "P3"
    loop = run(
        [
            ev(start + timedelta(minutes=i), EventKind.DEVICE_REBOOT, EventState.REBOOTED, "plug", reason="Exception")
            for i in range(4)
        ]
    )
    assert loop.verdict is RootCause.DEVICE_CRASH_LOOP
    assert RootCause.FIRMWARE_KNOWN_ISSUE in causes(loop)  # tasmota-crash-restarts matches the Exception restarts
    known = next(f for f in loop.findings if f.root_cause is RootCause.FIRMWARE_KNOWN_ISSUE)
    assert (known.started_at, known.ended_at) == (start, start + timedelta(minutes=3))


@pytest.mark.parametrize(("away_s", "cause"), [(4, RootCause.DEVICE_REBOOT), (300, RootCause.DEVICE_OFFLINE)])
def test_a_short_absence_ending_in_a_reboot_is_the_reboot(away_s: float, cause: RootCause) -> None:
    """A device that restarts drops off for seconds; one that is gone for minutes and comes back rebooted was
    off (a wall switch, a power cut): that is the finding."""
    went, back = NOW - timedelta(hours=1), NOW - timedelta(hours=1) + timedelta(seconds=away_s)
    report = run(
        [
            ev(went, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, "plug"),
            ev(back, EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, "plug"),
            ev(
                back + timedelta(seconds=1),
                EventKind.DEVICE_REBOOT,
                EventState.REBOOTED,
                "plug",
                reason="Software/System restart",
            ),
        ]
    )
    assert report.verdict is cause


def test_weak_signal_hub_boots_and_clock_jump() -> None:
    weak = Inventory(generated_at=NOW, devices=[device("plug", "tasmota", rssi_dbm=-86)])
    assert run([], weak).verdict is RootCause.WIFI_WEAK_SIGNAL
    assert (
        run([ev(NOW - timedelta(hours=5), EventKind.HUB_BOOT, EventState.POWER_LOSS)]).verdict
        is RootCause.HUB_POWER_LOSS
    )
    assert run([ev(NOW - timedelta(hours=5), EventKind.HUB_BOOT, EventState.REBOOT)]).verdict is RootCause.HUB_REBOOT
    jump = run([ev(NOW - timedelta(hours=1), EventKind.CLOCK_JUMP, EventState.FORWARD, jump_s=3600.0)])
    assert jump.verdict is RootCause.CLOCK_JUMP and "60 minutes forward" in jump.findings[0].explanation.symptom


def test_a_hub_short_of_storage_is_said_plainly_and_decides_only_alone() -> None:
    full: dict[str, Any] = {"disk_percent": 99.6, "memory_percent": 41.0, "reasons": ["disk"]}
    events = [
        ev(NOW - timedelta(minutes=30), EventKind.HUB_HEALTH, EventState.OK, disk_percent=80.0, reasons=[]),
        ev(NOW - timedelta(minutes=20), EventKind.HUB_HEALTH, EventState.DEGRADED, **full),
        ev(NOW - timedelta(minutes=10), EventKind.HUB_HEALTH, EventState.DEGRADED, **full),
    ]
    report = run(events)
    assert report.verdict is RootCause.HUB_DEGRADED and report.priority == "P2"
    finding = report.findings[0]
    assert "storage is 100% full" in finding.explanation.symptom and "until" not in finding.explanation.symptom
    assert "存储空间" in finding.translations["zh"].symptom
    assert finding.started_at == NOW - timedelta(minutes=20) and finding.ended_at == NOW - timedelta(minutes=10)
    with_reboot = run(events + router_reboot(NOW - timedelta(minutes=15)))
    assert with_reboot.verdict is RootCause.ROUTER_REBOOT and RootCause.HUB_DEGRADED in causes(with_reboot)
    cleaned = run(
        [*events, ev(NOW - timedelta(minutes=5), EventKind.HUB_HEALTH, EventState.OK, disk_percent=50.0, reasons=[])]
    )
    assert cleaned.verdict is RootCause.HUB_DEGRADED  # it happened; the finding says until when
    assert cleaned.findings[0].ended_at == NOW - timedelta(minutes=10)
    assert "(until 08:50)" in cleaned.findings[0].explanation.symptom


def test_a_broker_refusing_the_hub_is_named_even_beside_its_restart() -> None:
    refused = ev(NOW - timedelta(minutes=30), EventKind.BROKER, EventState.REFUSED, reason="Not authorized")
    restart = [
        ev(NOW - timedelta(minutes=31), EventKind.BROKER, EventState.DOWN),
        ev(NOW - timedelta(minutes=30), EventKind.BROKER, EventState.UP),
    ]
    report = run([*restart, refused])
    assert report.verdict is RootCause.BROKER_REFUSED and RootCause.BROKER_DOWN in causes(report)
    finding = report.findings[0]
    assert (
        "Not authorized" in finding.title and finding.ended_at is None and "since 08:30" in finding.explanation.symptom
    )
    fixed = run([refused, ev(NOW - timedelta(minutes=5), EventKind.BROKER, EventState.ACCEPTED)])
    assert (
        fixed.findings[0].ended_at == NOW - timedelta(minutes=5) and "to 08:55" in fixed.findings[0].explanation.symptom
    )


def test_healthy_only_when_nothing_is_wrong_and_live_checks_count() -> None:
    start = NOW - timedelta(hours=1)
    healthy = run(
        [
            ev(start, EventKind.GATEWAY, EventState.UP),
            ev(start, EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, "plug"),
        ]
    )
    assert healthy.verdict is RootCause.HEALTHY and healthy.priority == "P3"
    assert healthy.findings[0].explanation.symptom == "Everything works."
    failing = run([], checks=[{"name": "gateway", "ok": False, "detail": "timeout"}, {"name": "dns", "ok": True}])
    assert failing.verdict is RootCause.ROUTER_REBOOT and failing.priority == "P1"


def test_every_root_cause_has_both_languages() -> None:
    from agent.diagnosis.text import TEXTS

    assert set(TEXTS) == set(RootCause)
    assert all(set(by_language) == {"en", "zh"} for by_language in TEXTS.values())


def test_a_fault_bundle_is_diagnosed_for_its_own_fault() -> None:
    from agent.diagnosis import fault_focus

    start = NOW - timedelta(minutes=5)
    events = [
        ev(start, EventKind.INTERNET, EventState.DOWN),
        ev(start + timedelta(seconds=6), EventKind.INTERNET, EventState.UP),
        ev(start + timedelta(seconds=40), EventKind.DNS, EventState.DOWN),
        ev(start + timedelta(seconds=46), EventKind.DNS, EventState.UP),
        ev(
            start + timedelta(seconds=46),
            EventKind.FAULT,
            EventState.CLOSED,
            signature="dns_failure",
            started=(start + timedelta(seconds=40)).isoformat(),
        ),
    ]
    focused = diagnose(events, HOME, {}, PROFILES, NOW, focus=fault_focus(events, "dns_failure"))
    assert focused.verdict is RootCause.DNS_FAILURE
    wan = diagnose(events, HOME, {}, PROFILES, NOW, focus=(start, start + timedelta(seconds=6)))
    assert wan.verdict is RootCause.WAN_OUTAGE
    # Without a focus, the latest fault: the two are 34 s apart, not one episode.
    assert run(events).verdict is RootCause.DNS_FAILURE


# -- the one click at any moment: what the recorder holds reconciled with the fresh checks --------------------------
ALL_UP = [{"name": name, "ok": True} for name in ("hub_link", "gateway", "dns", "internet", "broker")]


def _checks(*failing: str) -> list[dict[str, object]]:
    return [
        {"name": c["name"], "ok": c["name"] not in failing, "detail": "timeout" if c["name"] in failing else ""}
        for c in ALL_UP
    ]


@pytest.mark.parametrize(
    ("down", "cause"),
    [
        (("hub_link", "gateway", "dns", "internet"), RootCause.ROUTER_REBOOT),
        (("internet",), RootCause.WAN_OUTAGE),
        (("dns",), RootCause.DNS_FAILURE),
        (("broker",), RootCause.BROKER_DOWN),
    ],
)
def test_a_fault_the_recorder_still_holds_open_is_named_when_the_checks_already_pass(down, cause) -> None:  # type: ignore[no-untyped-def]
    # The click's fresh checks pass a second before the monitor records the recovery: the fault just ended.
    start = NOW - timedelta(seconds=14)
    events = [ev(start, EventKind[name.upper()], EventState.DOWN) for name in down]
    report = run(events, checks=ALL_UP)
    assert report.verdict is cause
    finding = report.findings[0]
    assert finding.root_cause is cause and not finding.ongoing and finding.ended_at == NOW
    assert any(e.source == "diagnose.check" and e.state is EventState.UP for e in finding.evidence)


@pytest.mark.parametrize(
    ("down", "cause", "words", "zh_words"),
    [
        (("hub_link", "gateway", "dns", "internet"), RootCause.ROUTER_REBOOT, "probably restarting", "很可能正在重启"),
        (("internet",), RootCause.WAN_OUTAGE, "Right now the internet", "目前无法连接互联网"),
        (("dns",), RootCause.DNS_FAILURE, "Right now names", "目前无法解析域名"),
        (("broker",), RootCause.BROKER_DOWN, "Right now the hub's message service", "目前没有响应"),
    ],
)
def test_during_a_fault_the_click_says_what_fails_now_and_the_likely_cause(down, cause, words, zh_words) -> None:  # type: ignore[no-untyped-def]
    # An earlier, more serious fault is over: what fails now decides.
    events = router_reboot(NOW - timedelta(minutes=20), seconds=30) if cause is not RootCause.ROUTER_REBOOT else []
    start = NOW - timedelta(seconds=40)
    events += [ev(start, EventKind[name.upper()], EventState.DOWN) for name in down]
    report = run(events, checks=_checks(*down))
    assert report.verdict is cause
    now = report.findings[0]
    assert now.ongoing and now.ended_at is None and now.started_at == start
    assert words in now.explanation.symptom + now.explanation.root_cause
    assert zh_words in now.translations["zh"].symptom + now.translations["zh"].root_cause
    assert now.evidence and 0 < now.confidence < 1


def test_a_check_failing_before_the_recorder_noticed_is_a_fault_now() -> None:
    report = run([ev(NOW - timedelta(hours=1), EventKind.INTERNET, EventState.UP)], checks=_checks("internet"))
    assert report.verdict is RootCause.WAN_OUTAGE and report.findings[0].ongoing
    assert report.findings[0].started_at == NOW


def test_right_after_a_fault_the_latest_one_is_named_and_hours_later_too() -> None:
    events = router_reboot(NOW - timedelta(hours=3), seconds=60, devices={"plug": 20})
    dns = NOW - timedelta(minutes=1)
    events += [ev(dns, EventKind.DNS, EventState.DOWN), ev(dns + timedelta(seconds=20), EventKind.DNS, EventState.UP)]
    assert run(events, checks=ALL_UP).verdict is RootCause.DNS_FAILURE
    later = diagnose(events, HOME, {}, PROFILES, NOW + timedelta(hours=5), ALL_UP)
    assert later.verdict is RootCause.DNS_FAILURE
    assert diagnose(events[:-2], HOME, {}, PROFILES, NOW, ALL_UP).verdict is RootCause.ROUTER_REBOOT


def test_a_device_gone_for_days_does_not_hide_what_just_happened() -> None:
    events = [ev(NOW - timedelta(days=2), EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, "speaker")]
    events += router_reboot(NOW - timedelta(minutes=3), seconds=30)
    report = run(events, checks=ALL_UP)
    assert report.verdict is RootCause.ROUTER_REBOOT
    assert any(f.root_cause is RootCause.DEVICE_OFFLINE and f.ongoing for f in report.findings)
    assert run(events[:1], checks=ALL_UP).verdict is RootCause.DEVICE_OFFLINE


def test_repeats_are_one_finding_per_device_and_cause_counted_and_dated() -> None:
    events = []
    for hours in (5, 3, 1):
        events += router_reboot(NOW - timedelta(hours=hours), seconds=60, devices={"curtain": 400})
    start = NOW - timedelta(hours=4)
    for minutes in (0, 20):
        went = start + timedelta(minutes=minutes)
        events += [
            ev(went, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, "plug"),
            ev(went + timedelta(minutes=3), EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, "plug"),
        ]
    events += [
        ev(NOW - timedelta(minutes=m), EventKind.DEVICE_REBOOT, EventState.REBOOTED, "speaker") for m in (200, 100)
    ]
    report = run(events, checks=ALL_UP)
    slow = [f for f in report.findings if f.devices == ["curtain"] and not f.expected]
    assert len(slow) == 1 and slow[0].occurrences == 3 and slow[0].title == "curtain was slow to reconnect (3 times)"
    assert "3 times" in slow[0].explanation.symptom and "06:00 restart" in slow[0].explanation.symptom
    assert "共 3 次" in slow[0].translations["zh"].symptom
    (plug,) = [f for f in report.findings if f.devices == ["plug"]]
    assert (
        plug.occurrences == 2
        and "at 05:00 for about 3 minutes and at 05:20 for about 3 minutes" in plug.explanation.symptom
    )
    assert (plug.started_at, plug.ended_at) == (start, start + timedelta(minutes=23))
    (speaker,) = [f for f in report.findings if f.devices == ["speaker"]]
    assert speaker.occurrences == 2 and speaker.title == "speaker restarted 2 times"
    assert "05:40 and 07:20" in speaker.explanation.symptom and "05:40、07:20" in speaker.translations["zh"].symptom


def test_a_devices_earlier_absences_do_not_pull_an_older_fault_into_now() -> None:
    events = router_reboot(NOW - timedelta(hours=3), seconds=60)
    for hours in (5, 0.5):
        went = NOW - timedelta(hours=hours)
        events += [
            ev(went, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, "plug"),
            ev(went + timedelta(minutes=3), EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, "plug"),
        ]
    assert run(events, checks=ALL_UP).verdict is RootCause.DEVICE_OFFLINE


def test_the_boot_of_a_device_switched_back_on_is_part_of_its_absence() -> None:
    went = NOW - timedelta(minutes=10)
    events = [
        ev(went, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, "plug"),
        ev(went + timedelta(seconds=40), EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, "plug"),
        ev(went + timedelta(seconds=41), EventKind.DEVICE_REBOOT, EventState.REBOOTED, "plug", reason="Power On"),
    ]
    report = run(events, checks=ALL_UP)
    assert report.verdict is RootCause.DEVICE_OFFLINE and causes(report) == [RootCause.DEVICE_OFFLINE]
    # Its next restart, a minute later, is a restart of its own.
    restart = went + timedelta(minutes=2)
    events += [
        ev(restart, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, "plug"),
        ev(restart + timedelta(seconds=1), EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, "plug"),
        ev(restart + timedelta(seconds=2), EventKind.DEVICE_REBOOT, EventState.REBOOTED, "plug", reason="Exception"),
    ]
    assert run(events, checks=ALL_UP).verdict is RootCause.DEVICE_REBOOT


def test_the_normal_reconnects_are_told_in_both_languages() -> None:
    report = run(router_reboot(NOW - timedelta(hours=2), devices={"curtain": 5, "speaker": 8}))
    (normal,) = [f for f in report.findings if f.expected]
    assert normal.explanation.symptom == "2 devices reconnected normally after the router restart (curtain, speaker)."
    assert normal.translations["zh"].symptom == "路由器重启后，2 个设备已正常重新连接（curtain, speaker）。"


def test_a_weak_signal_now_outweighs_a_finished_hub_reboot_but_not_a_router_restart() -> None:
    weak = Inventory(generated_at=NOW, devices=[device("plug", "tasmota", rssi_dbm=-86)])
    booted = [ev(NOW - timedelta(minutes=5), EventKind.HUB_BOOT, EventState.REBOOT)]
    assert run(booted, weak, checks=ALL_UP).verdict is RootCause.WIFI_WEAK_SIGNAL
    restarted = router_reboot(NOW - timedelta(minutes=5), seconds=30)
    assert run(restarted, weak, checks=ALL_UP).verdict is RootCause.ROUTER_REBOOT


def test_a_click_sent_mid_fault_opens_a_provisional_ticket() -> None:
    from agent.selfcheck import self_diagnosis_trigger

    start = NOW - timedelta(seconds=20)
    during = run([ev(start, EventKind.BROKER, EventState.DOWN)], checks=_checks("broker"))
    assert self_diagnosis_trigger(during).signature == "broker_down:ongoing"
    after = run([ev(start, EventKind.BROKER, EventState.DOWN)], checks=ALL_UP)
    trigger = self_diagnosis_trigger(after)
    assert trigger.signature == "broker_down" and trigger.open_ticket and trigger.priority == after.priority
