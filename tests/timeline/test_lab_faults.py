"""Acceptance in the network-namespace home: real faults, the agent's timeline, bundles at the collector."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lab.agent_process import AgentProcess, wait_for
from lab.home import DeviceSpec, LabHome
from shared.models import EventKind, EventState, utcnow

pytestmark = [pytest.mark.lab, pytest.mark.slow]

DEVICES = [
    DeviceSpec("plug", "tasmota", 2.0),
    DeviceSpec("relay", "shelly", 2.0),
    DeviceSpec("zigbee2mqtt", "zigbee2mqtt", 2.0),
    DeviceSpec("curtain-esp", "esphome", 2.0),
]
EXPECTED_ONLINE = 7  # tasmota, shelly, esphome, the Zigbee2MQTT bridge and its three Zigbee devices


@pytest.fixture
def home(request, lab_factory, tmp_path: Path) -> Iterator[tuple[LabHome, AgentProcess]]:  # type: ignore[no-untyped-def]
    """``request.param``: more capture settings (indirect parametrisation)."""
    lab = lab_factory(devices=DEVICES, upnp=True)
    lab.start_broker()
    capture = {"crash_loop_restarts": 2, **getattr(request, "param", {})}
    agent = AgentProcess.create(lab, tmp_path, extra={"capture": capture})
    try:
        agent.start()
        agent.wait_ready(EXPECTED_ONLINE)
        yield lab, agent
    finally:
        agent.close()


def _close(a, b, seconds: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    return abs((a - b).total_seconds()) <= seconds


def test_router_reboot_yields_one_bundle_with_the_whole_story(home) -> None:  # type: ignore[no-untyped-def]
    lab, agent = home
    ticket = agent.open_ticket()
    fault = lab.faults.router_reboot(20).wait(60)
    record = agent.wait_bundle("router_reboot", timeout=60)
    assert record["ticket_id"] == ticket
    bundle = agent.bundle(record)
    timeline = bundle.timeline()

    def first(kind: EventKind, state: EventState, after):  # type: ignore[no-untyped-def]
        return next(e for e in timeline if e.kind is kind and e.state == state and e.ts >= after)

    for kind in (EventKind.HUB_LINK, EventKind.GATEWAY, EventKind.DNS, EventKind.INTERNET):
        down = first(kind, EventState.DOWN, fault.started_at - timedelta(seconds=3))
        assert _close(down.ts, fault.started_at), kind
        assert _close(first(kind, EventState.UP, down.ts).ts, fault.ended_at), kind
    offline = {
        e.device_id for e in timeline if e.kind is EventKind.DEVICE_AVAILABILITY and e.state is EventState.OFFLINE
    }
    online_again = {
        e.device_id
        for e in timeline
        if e.kind is EventKind.DEVICE_AVAILABILITY and e.state is EventState.ONLINE and e.ts > fault.started_at
    }
    assert len(offline) >= 4 and offline <= online_again
    closed = [e for e in timeline if e.kind is EventKind.FAULT and e.state is EventState.CLOSED]
    assert [e.detail["signature"] for e in closed] == ["router_reboot"]
    assert any(
        e.kind is EventKind.ROUTER_BOOT_ID and e.state is EventState.CHANGED for e in timeline
    )  # the new SSDP BOOTID
    assert bundle.manifest.trigger.signature == "router_reboot"
    assert "inventory.json" in bundle.files and any(name.startswith("logs/") for name in bundle.files)
    assert wait_for(lambda: not list((agent.state_dir / "spool").glob("*.bundle")), 10)  # delivered, spool empty

    # Two more reboots inside the grouping window: recorded, grouped, not uploaded again.
    for _ in range(2):
        lab.faults.router_reboot(4).wait(30)
        assert agent.wait_event(
            lambda e: e.kind is EventKind.FAULT and e.detail.get("grouped") is True and e.ts > fault.ended_at, 30
        )
    assert wait_for(
        lambda: len([e for e in agent.events() if e.kind is EventKind.FAULT and e.detail.get("grouped")]) >= 2, 30
    )
    assert [b["trigger"]["signature"] for b in agent.bundles()].count("router_reboot") == 1


def test_other_faults_have_their_own_signatures(home) -> None:  # type: ignore[no-untyped-def]
    lab, agent = home
    lab.faults.device_power_off("plug")  # first: a device dropping right after a network fault is part of it
    device = agent.wait_event(
        lambda e: (
            e.kind is EventKind.FAULT
            and e.state is EventState.OPENED
            and e.detail["signature"].startswith("device_offline:")
        ),
        30,
    )
    assert device is not None
    # A WAN or DNS fault does not cut devices off: the plug's absence goes on through them.
    lab.faults.wan_outage(6).wait(30)
    agent.wait_bundle("wan_outage")
    lab.faults.dns_failure(6).wait(30)
    agent.wait_bundle("dns_failure")
    # Away longer than a restart takes (a short absence ending in a boot is a restart, device_reboot:…).
    time.sleep(max(0.0, 32 - (utcnow() - device.ts).total_seconds()))
    lab.faults.device_power_on("plug")
    agent.wait_bundle(device.detail["signature"])
    # By now the relay has run long enough for its uptime to visibly reset; 32 s apart: a boot counts once per 30 s.
    lab.faults.device_crash_loop("relay", restarts=2, interval_s=32)
    loop = agent.wait_event(
        lambda e: e.kind is EventKind.FAULT and e.detail["signature"].startswith("device_crash_loop:"), 60
    )
    assert loop is not None
    agent.wait_bundle(loop.detail["signature"])
    lab.faults.broker_crash(6).wait(30)
    agent.wait_bundle("broker_down")
    signatures = [b["trigger"]["signature"] for b in agent.bundles()]
    assert {
        "wan_outage",
        "dns_failure",
        "broker_down",
        agent.as_redacted(device.detail["signature"]),
        agent.as_redacted(loop.detail["signature"]),
    } <= set(signatures)
    assert not any(s.startswith("router") for s in signatures) and len(signatures) == len(set(signatures))
    lab.faults.hub_clock_step(600)  # last: the hub's clock jumps; the agent notices against its monotonic clock
    jump = agent.wait_event(lambda e: e.kind is EventKind.CLOCK_JUMP, 10)
    assert jump is not None and jump.state is EventState.FORWARD and abs(jump.detail["jump_s"] - 600) < 5


def test_agent_killed_during_an_outage_loses_nothing(home) -> None:  # type: ignore[no-untyped-def]
    lab, agent = home
    fault = lab.faults.wan_outage(12)
    down = agent.wait_event(lambda e: e.kind is EventKind.INTERNET and e.state is EventState.DOWN, 10)
    assert down is not None
    agent.kill()
    before = agent.events()
    agent.start()
    fault.wait(30)
    record = agent.wait_bundle("wan_outage")
    after = agent.events()
    assert [e for e in after if e.ts <= before[-1].ts][: len(before)] == before  # every recorded event survived
    timeline = agent.bundle(record).timeline()
    # The outage's start, recorded before the kill, is in the bundle (its details redacted).
    assert (down.ts, down.kind, down.state) in [(e.ts, e.kind, e.state) for e in timeline]


@pytest.mark.parametrize("home", [{"ongoing_after_s": 5}], indirect=True)
def test_a_long_outage_is_bundled_while_the_network_is_down_and_delivered_when_it_returns(home) -> None:  # type: ignore[no-untyped-def]
    lab, agent = home
    fault = lab.faults.router_reboot(15)
    assert agent.wait_event(lambda e: e.kind is EventKind.FAULT and e.state is EventState.OPENED, 10) is not None
    fault.wait(40)
    record = agent.wait_bundle("router_reboot:ongoing", timeout=60)
    bundle = agent.bundle(record)
    assert fault.started_at < bundle.manifest.created_at < fault.ended_at  # frozen during the outage
    assert bundle.manifest.window.end < fault.ended_at
    assert fault.ended_at < datetime.fromisoformat(record["received_at"])  # delivered once the way out was back
    timeline = bundle.timeline()
    assert any(e.kind is EventKind.GATEWAY and e.state is EventState.DOWN for e in timeline)
    agent.wait_bundle("router_reboot", timeout=60)  # and then the whole story
