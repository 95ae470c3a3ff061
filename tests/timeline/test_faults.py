"""The fault engine: opening, closing, capture timing, grouping and rate limiting, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.config import CaptureConfig
from agent.faults import FaultEngine
from shared.models import EventKind, EventState, RootCause, TimelineEvent

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
CONFIG = CaptureConfig(before_s=60, after_s=10, group_window_s=600, device_grace_s=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(seconds: float, kind: EventKind, state: EventState, device: str | None = None) -> TimelineEvent:
    return TimelineEvent(ts=at(seconds), kind=kind, state=state, source="test", device_id=device)


NETWORK = [EventKind.HUB_LINK, EventKind.GATEWAY, EventKind.DNS, EventKind.INTERNET]


def reboot(engine: FaultEngine, start: float, length: float, devices: tuple[str, ...] = ()) -> list[TimelineEvent]:
    out: list[TimelineEvent] = []
    for kind in NETWORK:
        out += engine.observe(ev(start, kind, EventState.DOWN))
    for device in devices:
        out += engine.observe(ev(start + 1, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, device))
    for kind in NETWORK:
        out += engine.observe(ev(start + length, kind, EventState.UP))
    return out


def test_a_router_reboot_opens_closes_and_is_captured_after_the_devices_return() -> None:
    engine = FaultEngine(CONFIG)
    events = reboot(engine, 100, 20, devices=("plug", "curtain"))
    assert [(e.state, e.detail["signature"]) for e in events] == [("opened", "network"), ("closed", "router_reboot")]
    assert engine.open_faults == []
    assert engine.tick(at(200)) == []  # devices still away: wait for them (at most DEVICE_RETURN_WAIT)
    engine.observe(ev(125, EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, "plug"))
    engine.observe(ev(140, EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, "curtain"))
    assert engine.tick(at(149)) == []
    (capture,) = engine.tick(at(150))
    assert capture.root_cause is RootCause.ROUTER_REBOOT and capture.occurrences == 1
    assert capture.start == at(40) and capture.end == at(150)
    assert engine.tick(at(1000)) == []


def test_devices_dropping_with_the_network_are_not_device_faults() -> None:
    engine = FaultEngine(CONFIG)
    reboot(engine, 0, 20)
    late_will = engine.observe(
        ev(40, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, "plug")
    )  # within device_grace_s
    assert late_will == []
    alone = engine.observe(ev(100, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, "relay"))
    assert [e.detail["signature"] for e in alone] == ["device_offline:relay"]
    assert engine.open_faults == ["device_offline:relay"]


def test_three_reboots_in_a_row_are_one_capture_then_grouped() -> None:
    engine = FaultEngine(CONFIG)
    reboot(engine, 0, 5)
    merged = reboot(engine, 8, 5)  # before the first capture was made: merged into it
    assert merged[-1].detail.get("merged") is True
    (capture,) = engine.tick(at(30))
    assert capture.occurrences == 2
    grouped = reboot(engine, 100, 5)  # after, inside group_window_s: recorded, not captured again
    assert grouped[-1].detail.get("grouped") is True
    assert engine.tick(at(1000)) == []
    reboot(engine, 1000, 5)  # past the window: a new capture
    assert [c.signature for c in engine.tick(at(2000))] == ["router_reboot"]


def test_other_faults_have_their_own_signatures() -> None:
    engine = FaultEngine(CONFIG)
    closed = []
    for start, kinds in ((0, [EventKind.INTERNET]), (100, [EventKind.DNS]), (200, [EventKind.BROKER])):
        for kind in kinds:
            engine.observe(ev(start, kind, EventState.DOWN))
        for kind in kinds:
            closed += engine.observe(ev(start + 5, kind, EventState.UP))
    assert [e.detail["signature"] for e in closed] == ["wan_outage", "dns_failure", "broker_down"]
    assert sorted(c.signature for c in engine.tick(at(1000))) == ["broker_down", "dns_failure", "wan_outage"]


def test_a_crash_loop_is_a_fault_of_its_own() -> None:
    engine = FaultEngine(CONFIG)
    events = [
        e
        for i in range(CONFIG.crash_loop_restarts)
        for e in engine.observe(ev(i * 30, EventKind.DEVICE_REBOOT, EventState.REBOOTED, "esp"))
    ]
    assert [e.detail["signature"] for e in events] == ["device_crash_loop:esp"]
    (capture,) = engine.tick(at(1000))
    assert capture.root_cause is RootCause.DEVICE_CRASH_LOOP and capture.devices == ("esp",)


def test_restore_after_a_restart_recovers_the_open_fault_and_skips_what_was_captured() -> None:
    history = [ev(0, EventKind.INTERNET, EventState.DOWN)]
    engine = FaultEngine(CONFIG)
    engine.restore(history, {})
    assert engine.open_faults == ["network"]
    closed = engine.observe(ev(20, EventKind.INTERNET, EventState.UP))
    assert closed[0].detail["signature"] == "wan_outage"

    captured = FaultEngine(CONFIG)
    captured.restore([*history, ev(20, EventKind.INTERNET, EventState.UP)], {"wan_outage": at(31)})
    assert captured.tick(at(1000)) == []


def test_after_a_hub_link_outage_the_routers_boot_id_decides() -> None:
    """The router speaks UPnP: the same BOOTID after the hub's link returns is the hub's link, a new one a router
    reboot; with no answer within BOOT_ID_WAIT the outage is judged without it."""

    def outage_then(answer: EventState | None) -> list[str]:
        engine = FaultEngine(CONFIG)
        engine.observe(TimelineEvent(ts=at(0), kind=EventKind.ROUTER_BOOT_ID, state=EventState.SEEN, source="test"))
        closed = [e for e in reboot(engine, 100, 20) if e.state is EventState.CLOSED]
        assert closed == []  # held for the router's word
        if answer is not None:
            closed = engine.observe(
                TimelineEvent(ts=at(122), kind=EventKind.ROUTER_BOOT_ID, state=answer, source="test")
            )
        else:
            assert engine.expire(at(130)) == []
            closed = engine.expire(at(136))
        assert [e.ts for e in closed] == [at(120)]
        return [str(e.detail["signature"]) for e in closed]

    assert outage_then(EventState.SAME) == ["hub_link_down"]
    assert outage_then(EventState.CHANGED) == ["router_reboot"]
    assert outage_then(None) == ["router_reboot"]
    without_upnp = FaultEngine(CONFIG)
    assert [e.detail["signature"] for e in reboot(without_upnp, 100, 20) if e.state is EventState.CLOSED] == [
        "router_reboot"
    ]


def test_a_long_outage_is_also_captured_while_it_lasts() -> None:
    engine = FaultEngine(CONFIG.model_copy(update={"ongoing_after_s": 300}))
    engine.observe(ev(100, EventKind.INTERNET, EventState.DOWN))
    assert engine.tick(at(399)) == []
    (ongoing,) = engine.tick(at(400))
    assert (ongoing.signature, ongoing.start, ongoing.end) == ("wan_outage:ongoing", at(40), at(400))
    assert engine.tick(at(1000)) == []  # once per fault
    engine.observe(ev(1200, EventKind.INTERNET, EventState.UP))
    assert [c.signature for c in engine.tick(at(1300))] == ["wan_outage"]  # and the whole story at the end
    short = FaultEngine(CONFIG)
    reboot(short, 100, 20)
    assert [c.signature for c in short.tick(at(200))] == ["router_reboot"]  # a short one: only the close


def _away(engine: FaultEngine, device: str, went: float, back: float, rebooted: float | None) -> list[TimelineEvent]:
    out = engine.observe(ev(went, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE, device))
    out += engine.observe(ev(back, EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, device))
    if rebooted is not None:
        out += engine.observe(ev(rebooted, EventKind.DEVICE_REBOOT, EventState.REBOOTED, device))
    return out


def test_a_crash_loop_is_one_capture_with_no_offline_or_restart_bundles_for_its_absences() -> None:
    engine = FaultEngine(CONFIG)
    closed = []
    for start in (100, 110, 120):  # three restarts, each a few seconds away, the reboot reported after the return
        closed += [e for e in _away(engine, "esp", start, start + 3, start + 4) if e.state is EventState.CLOSED]
        closed += engine.expire(at(start + 9))
    assert [e.detail["signature"] for e in closed] == [
        "device_reboot:esp",
        "device_reboot:esp",
        "device_crash_loop:esp",
    ]
    assert closed[-1].detail["absorbed"] == ["device_reboot:esp"]
    (capture,) = engine.tick(at(1000))
    assert capture.signature == "device_crash_loop:esp" and capture.start == at(100 - 60) and capture.occurrences == 3
    # A restart soon after joins the loop (grouped), not a bundle of its own.
    late = [e for e in _away(engine, "esp", 300, 303, 304) if e.state is EventState.CLOSED]
    assert [(e.detail["signature"], e.detail.get("grouped")) for e in late] == [("device_crash_loop:esp", True)]
    assert engine.tick(at(5000)) == []


def test_a_single_restart_waits_out_the_crash_loop_window_and_a_long_absence_stays_offline() -> None:
    engine = FaultEngine(CONFIG)
    restart = [e for e in _away(engine, "plug", 100, 105, 106) if e.state is EventState.CLOSED]
    assert [e.detail["signature"] for e in restart] == ["device_reboot:plug"]
    assert engine.tick(at(106 + CONFIG.after_s + 1)) == []  # a loop's next restart may still come
    (capture,) = engine.tick(at(106 + CONFIG.crash_loop_window_s + 1))
    assert capture.root_cause is RootCause.DEVICE_REBOOT
    # Back without a reboot report: away, not restarting, once the wait for the report is over.
    assert _away(engine, "relay", 2000, 2005, None)[1:] == []
    (offline,) = engine.expire(at(2040))
    assert offline.detail["signature"] == "device_offline:relay"
    long = [e for e in _away(engine, "lamp", 3000, 3040, 3041) if e.state is EventState.CLOSED]
    assert [e.detail["signature"] for e in long] == ["device_offline:lamp"]
