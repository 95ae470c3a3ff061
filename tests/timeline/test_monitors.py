"""Monitor decisions over plain data, and one real round of checks on loopback."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.clock import Clock
from agent.config import AgentConfig
from agent.evidence import MemorySink
from agent.monitors.clock import ClockWatch, clock_jump
from agent.monitors.connectivity import CheckState, step
from agent.monitors.dns import dns_query_packet, parse_a_records
from agent.monitors.gateway import arp_reply_mac, arp_request_frame, icmp_echo_packet, is_echo_reply
from agent.monitors.health import boot_event, degraded
from agent.monitors.internet import split_target
from agent.monitors.link import address_change, link_state
from agent.monitors.probes import CHECKS, CheckResult, run_checks
from agent.monitors.ssdp import SSDP_PORT, BootIdTracker, SsdpListener, gateway_announcement, parse_headers
from lab.ssdp import notify, search_response
from shared.models import EventKind, EventState
from tests.configs import agent_config

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
GW = "10.77.0.1"


def test_a_check_goes_down_after_n_failures_dated_at_the_first_and_up_at_once() -> None:
    state, event = step(CheckState(), CheckResult("gateway", True, "icmp", 1.5), T0, 2)
    assert event is not None and (event.kind, event.state) == (EventKind.GATEWAY, EventState.UP)  # the baseline
    state, event = step(state, CheckResult("gateway", False, "timeout"), T0 + timedelta(seconds=2), 2)
    assert event is None
    state, event = step(state, CheckResult("gateway", False, "timeout"), T0 + timedelta(seconds=4), 2)
    assert event is not None and event.state is EventState.DOWN and event.ts == T0 + timedelta(seconds=2)
    assert event.detail["failures"] == 2
    state, event = step(state, CheckResult("gateway", False, "timeout"), T0 + timedelta(seconds=6), 2)
    assert event is None
    state, event = step(state, CheckResult("gateway", True, "icmp"), T0 + timedelta(seconds=8), 2)
    assert event is not None and event.state is EventState.UP and state == CheckState(reported=True)
    assert step(state, CheckResult("gateway", None, "not configured"), T0, 2) == (state, None)


def test_a_failing_first_look_is_reported_down_at_once() -> None:
    _, event = step(CheckState(), CheckResult("dns", False, "timeout"), T0, 3)
    assert event is not None and event.state is EventState.DOWN


def test_link_state_reads_sysfs(tmp_path: Path) -> None:
    (tmp_path / "eth9").mkdir()
    (tmp_path / "eth9" / "operstate").write_text("up\n")
    (tmp_path / "eth9" / "carrier").write_text("1\n")
    assert link_state("eth9", tmp_path).ok
    (tmp_path / "eth9" / "carrier").write_text("0\n")
    assert not link_state("eth9", tmp_path).ok
    assert link_state("nope", tmp_path).detail == "no interface nope"


def test_address_changes_are_events_after_the_baseline() -> None:
    assert address_change(None, {"veth0": ["10.77.0.20"]}, T0) is None
    assert address_change({"veth0": ["10.77.0.20"]}, {"veth0": ["10.77.0.20"]}, T0) is None
    event = address_change({"veth0": ["10.77.0.20"]}, {"veth0": []}, T0)
    assert event is not None and event.kind is EventKind.HUB_ADDRESS and event.detail["after"] == {"veth0": []}


def test_clock_jumps(tmp_path: Path) -> None:
    assert clock_jump(10.0, 9.9, T0) is None
    backward = clock_jump(-3590.0, 10.0, T0)
    assert backward is not None and backward.state is EventState.BACKWARD and backward.detail["jump_s"] == -3600.0
    offset = tmp_path / "offset"
    watch = ClockWatch(Clock(offset, reread_s=0))
    assert watch.look() is None
    offset.write_text("120")  # what lab.faults.hub_clock_step writes
    jump = watch.look()
    assert jump is not None and jump.state is EventState.FORWARD and jump.detail["jump_s"] > 119
    assert watch.look() is None


def test_hub_boot_and_health_decisions() -> None:
    assert boot_event(1000.0, None, T0) is None
    assert boot_event(1000.0, {"boot_time": 1000.5, "clean_stop": False}, T0) is None
    reboot = boot_event(5000.0, {"boot_time": 1000.0, "clean_stop": True}, T0)
    power = boot_event(5000.0, {"boot_time": 1000.0, "clean_stop": False}, T0)
    assert reboot is not None and reboot.state is EventState.REBOOT
    assert power is not None and power.state is EventState.POWER_LOSS
    assert degraded({"memory_percent": 95, "disk_percent": 10, "temperature_max_c": 85}) == ["memory", "temperature"]


def test_ssdp_boot_ids_from_the_gateway_only() -> None:
    uuid = "8f2c0a1e-0000-4000-8000-000000000001"
    alive = notify(uuid, "upnp:rootdevice", GW, 7)
    assert gateway_announcement(alive, "10.77.0.99", GW) is None  # not the gateway
    tracker = BootIdTracker()
    seen = tracker.observe(gateway_announcement(alive, GW, GW), T0)  # type: ignore[arg-type]
    assert seen is not None and seen.state is EventState.SEEN and seen.detail["boot_id"] == 7
    assert tracker.observe(gateway_announcement(alive, GW, GW), T0) is None  # type: ignore[arg-type]
    bye = gateway_announcement(notify(uuid, "upnp:rootdevice", GW, 7, nts="ssdp:byebye"), GW, GW)
    assert bye is not None and not bye.alive
    assert tracker.observe(bye, T0).state is EventState.BYEBYE  # type: ignore[union-attr]
    assert tracker.observe(bye, T0) is None  # once per goodbye
    changed = tracker.observe(gateway_announcement(notify(uuid, "upnp:rootdevice", GW, 8), GW, GW), T0)  # type: ignore[arg-type]
    assert (
        changed is not None and changed.state is EventState.CHANGED and changed.detail == {"boot_id": 8, "previous": 7}
    )
    tracker.rechecking = True  # the network came back: the same BOOTID again is worth saying, once
    same = tracker.observe(gateway_announcement(notify(uuid, "upnp:rootdevice", GW, 8), GW, GW), T0)  # type: ignore[arg-type]
    assert same is not None and same.state is EventState.SAME and not tracker.rechecking
    assert tracker.observe(gateway_announcement(notify(uuid, "upnp:rootdevice", GW, 8), GW, GW), T0) is None  # type: ignore[arg-type]
    assert gateway_announcement(b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n", GW, GW) is None


def test_packets_build_and_parse() -> None:
    packet = icmp_echo_packet(0x1234, 1)
    reply = bytes([0x45]) + bytes(19) + bytes([0, 0]) + packet[2:]
    assert is_echo_reply(reply, 0x1234) and not is_echo_reply(reply, 0x4321) and not is_echo_reply(b"", 1)
    mac = bytes.fromhex("020000000014")
    request = arp_request_frame(mac, "10.77.0.20", "10.77.0.1")
    assert (
        request[:6] == b"\xff" * 6 and len(request) == 42 and arp_reply_mac(request, "10.77.0.1") is None
    )  # a request
    router = bytes.fromhex("d20c56e8e547")
    reply = (
        mac
        + router
        + request[12:20]
        + b"\x00\x02"
        + router
        + socket.inet_aton("10.77.0.1")
        + mac
        + socket.inet_aton("10.77.0.20")
    )
    assert arp_reply_mac(reply, "10.77.0.1") == "d2:0c:56:e8:e5:47"
    assert arp_reply_mac(reply, "10.77.0.9") is None and arp_reply_mac(reply[:30], "10.77.0.1") is None
    query = dns_query_packet("internet.lab", 7)
    answer = bytearray(query)
    answer[2:4] = b"\x81\x80"
    answer[6:8] = b"\x00\x01"
    answer += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton("10.99.0.2")
    assert parse_a_records(bytes(answer)) == ["10.99.0.2"]
    assert parse_a_records(b"\x00\x01") == []
    assert split_target("10.99.0.2:8080") == ("10.99.0.2", 8080) and split_target("10.99.0.2") == ("10.99.0.2", None)


async def test_nothing_is_probed_that_the_configuration_does_not_name() -> None:
    results = await run_checks(AgentConfig())
    assert [r.name for r in results] == list(CHECKS)
    assert all(r.ok is None for r in results)


async def test_a_round_of_checks_on_loopback() -> None:
    with socket.socket() as listener, socket.socket() as closed:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        closed.bind(("127.0.0.1", 0))  # bound, not listening: refused
        port, refused = listener.getsockname()[1], closed.getsockname()[1]
        config = agent_config(
            network={
                "interfaces": ["lo"],
                "gateway": "127.0.0.1",
                "internet_targets": [f"127.0.0.1:{refused}", f"127.0.0.1:{port}"],
            },
            probes={"timeout_s": 1.0, "arp": False},
            broker={"url": f"mqtt://127.0.0.1:{refused}"},
        )
        results = {r.name: r for r in await run_checks(config)}
    assert results["hub_link"].ok is True
    assert results["gateway"].ok is True and results["gateway"].latency_ms is not None
    assert results["dns"].ok is None
    assert results["internet"].ok is True and results["internet"].detail == f"127.0.0.1:{port}"
    assert results["broker"].ok is False and results["broker"].detail == "refused"


async def test_the_ssdp_listener_asks_the_gateway_for_its_boot_id() -> None:
    """A unicast M-SEARCH to a stand-in router on loopback; its answer is the first BOOTID seen."""
    loop = asyncio.get_running_loop()
    uuid = "8f2c0a1e-0000-4000-8000-000000000002"

    class Router(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            start, headers = parse_headers(data)
            if start.startswith("M-SEARCH") and headers["ST"] == "upnp:rootdevice":
                self.transport.sendto(search_response(uuid, headers["ST"], "127.0.0.1", 41), addr)  # type: ignore[attr-defined]

    router, _ = await loop.create_datagram_endpoint(Router, local_addr=("127.0.0.1", SSDP_PORT), reuse_port=True)
    sink = MemorySink()
    try:
        async with SsdpListener(["127.0.0.1"], "127.0.0.1", sink, lambda: T0):
            for _ in range(100):
                if sink.events:
                    break
                await asyncio.sleep(0.02)
    finally:
        router.close()
    assert [(e.kind, e.state, e.detail["boot_id"]) for e in sink.events] == [
        (EventKind.ROUTER_BOOT_ID, EventState.SEEN, 41)
    ]
