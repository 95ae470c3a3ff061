"""The lab home: it comes up, really connects, really breaks under each fault, and leaves nothing behind."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from lab import netns
from lab.agent_process import wait_for
from lab.faults import read_clock_offset
from lab.home import LabHome, cleanup_stale

pytestmark = pytest.mark.lab


def test_lab_comes_up_and_down_leaving_nothing(lab_factory) -> None:  # type: ignore[no-untyped-def]
    lab = lab_factory(devices=2, upnp=True)
    lab.start_broker()
    namespaces = lab.namespaces
    pids = [p.pid for p in lab.processes]
    assert len(namespaces) == 5 and all(ns.startswith(lab.prefix) for ns in namespaces)
    assert lab.state_path.exists() and (netns.NETNS_ETC_DIR / lab.hub_ns / "resolv.conf").exists()
    root_links = netns.ip("-o", "link", "show")
    assert "p-hub" not in root_links and "wan0" not in root_links  # nothing in the root namespace
    lab.close()
    assert netns.namespaces_of(lab.prefix) == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert not (netns.NETNS_ETC_DIR / lab.hub_ns).exists()
    assert not lab.workdir.exists() and not lab.state_path.exists()


def test_hub_reaches_gateway_dns_and_internet(lab_home: LabHome) -> None:
    assert lab_home.connectivity() == {"gateway": True, "dns": True, "internet": True}
    resolved = lab_home.run(lab_home.hub_ns, ["getent", "hosts", "collector.lab"]).stdout
    assert resolved.split()[0] == lab_home.internet_ip  # through /etc/netns/<hub>/resolv.conf
    assert lab_home.collector_url(8080) == f"http://{lab_home.internet_ip}:8080"
    assert lab_home.probe(lab_home.hub_ns, "tcp", lab_home.hub_ip, str(lab_home.broker_port))["open"]


def test_scheduled_router_reboot_cuts_everything_then_returns_with_new_bootid(lab_home: LabHome) -> None:
    lab = lab_home
    listener = lab.spawn(lab.hub_ns, [sys.executable, "-c", SSDP_LISTENER, lab.hub_ip], name="ssdp-listener")
    time.sleep(0.5)
    fault = lab.faults.router_reboot(4.0, scheduled=True)
    carrier = lab.run(lab.hub_ns, ["cat", f"/sys/class/net/{lab.hub_iface}/carrier"], check=False).stdout.strip()
    during = lab.connectivity()
    assert fault.active, "probing took longer than the reboot; the checks above saw a mix"
    assert during == {"gateway": False, "dns": False, "internet": False}
    assert carrier == "0"
    fault.wait(15)
    assert wait_for(lambda: lab.connectivity() == {"gateway": True, "dns": True, "internet": True}, timeout=10)
    assert fault.ended_at is not None and 3.5 <= (fault.ended_at - fault.started_at).total_seconds() <= 7
    assert fault.details["bootid"] == 2
    seen = wait_for(lambda: "ssdp:alive BOOTID 2" in listener.log_tail(), timeout=5)
    listener.stop()
    assert seen and "ssdp:byebye BOOTID 1" in listener.log_tail(), listener.log_tail()


SSDP_LISTENER = """
import socket, struct, sys
from lab.ssdp import parse_headers
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 1900))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack("4s4s", socket.inet_aton("239.255.255.250"), socket.inet_aton(sys.argv[1])))
while True:
    start, headers = parse_headers(s.recv(2048))
    print(headers.get("NTS"), "BOOTID", headers.get("BOOTID.UPNP.ORG"), flush=True)
"""


def test_wan_outage_keeps_the_lan(lab_home: LabHome) -> None:
    fault = lab_home.faults.wan_outage(2.0)
    assert lab_home.connectivity() == {"gateway": True, "dns": True, "internet": False}
    fault.wait(10)
    assert wait_for(lambda: lab_home.connectivity()["internet"], timeout=10)


def test_a_pulled_hub_cable_drops_the_hubs_carrier_only(lab_home: LabHome) -> None:
    def carrier() -> str:
        return lab_home.run(lab_home.hub_ns, ["cat", "/sys/class/net/eth0/carrier"], check=False).stdout.strip()

    fault = lab_home.faults.hub_unplugged(5.0)  # long enough for both looks on a loaded machine
    assert carrier() != "1" and lab_home.connectivity()["gateway"] is False
    fault.wait(15)
    assert carrier() == "1" and wait_for(lambda: lab_home.connectivity()["gateway"], timeout=10)


def test_a_lab_hub_reboot_is_a_new_kernel_boot_time(lab_home: LabHome) -> None:
    """``lab.timens``: the command runs in a time namespace whose boot is a moment ago; wall time is untouched."""
    script = "import psutil, time; print(psutil.boot_time(), time.time())"
    booted, now = map(
        float,
        lab_home.run(
            lab_home.hub_ns, [sys.executable, "-m", "lab.timens", sys.executable, "-c", script]
        ).stdout.split(),
    )
    assert 0 <= now - booted < 5 and abs(now - time.time()) < 5


def test_dns_failure_only_breaks_names(lab_home: LabHome) -> None:
    fault = lab_home.faults.dns_failure(2.0)
    assert lab_home.connectivity() == {"gateway": True, "dns": False, "internet": True}
    fault.wait(10)
    assert lab_home.connectivity()["dns"]


def test_broker_crash_and_restart(lab_home: LabHome) -> None:
    port = str(lab_home.broker_port)
    crash = lab_home.faults.broker_crash()
    assert lab_home.probe(lab_home.hub_ns, "tcp", lab_home.hub_ip, port)["error"] == "refused"
    assert lab_home.faults.broker_restart() is crash and crash.ended_at is not None
    assert lab_home.probe(lab_home.hub_ns, "tcp", "127.0.0.1", port)["open"]


def test_hub_clock_step_moves_the_offset_file_only(lab_home: LabHome) -> None:
    env = lab_home.hub_env()
    path = env["HOMEDIAG_CLOCK_OFFSET_FILE"]
    before = time.time()
    lab_home.faults.hub_clock_step(3600)
    lab_home.faults.hub_clock_step(-600)
    assert read_clock_offset(path) == 3000
    assert abs(time.time() - before) < 60  # the real clock did not move


def test_teardown_after_a_failing_test_body() -> None:
    if reason := netns.ip_available():
        pytest.skip(reason)
    with pytest.raises(RuntimeError, match="deliberate"), LabHome(devices=1) as lab:
        prefix, workdir = lab.prefix, lab.workdir
        pids = [p.pid for p in lab.processes]
        raise RuntimeError("deliberate")
    assert netns.namespaces_of(prefix) == []
    assert not workdir.exists()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


def test_cleanup_stale_removes_only_dead_owners(tmp_path: Path) -> None:
    if reason := netns.ip_available():
        pytest.skip(reason)
    dead_id = netns.new_instance_id()
    dead_ns = f"{netns.PREFIX_FAMILY}{dead_id}-router"
    live_id = netns.new_instance_id()
    live_ns = f"{netns.PREFIX_FAMILY}{live_id}-router"
    dead_pid = os.fork()
    if dead_pid == 0:
        os._exit(0)
    os.waitpid(dead_pid, 0)
    try:
        for lab_id, ns, owner in ((dead_id, dead_ns, dead_pid), (live_id, live_ns, os.getpid())):
            (tmp_path / f"{lab_id}.json").write_text(
                json.dumps({"id": lab_id, "owner_pid": owner, "workdir": "", "processes": []})
            )
            netns.create_namespace(ns)
        removed = cleanup_stale(tmp_path)
        assert dead_id in removed and live_id not in removed
        assert dead_ns not in netns.list_namespaces() and live_ns in netns.list_namespaces()
    finally:
        netns.delete_namespace(dead_ns)
        netns.delete_namespace(live_ns)


def test_refuses_foreign_namespaces() -> None:
    with pytest.raises(netns.NetnsError, match="not a lab namespace"):
        netns.delete_namespace("some-other-namespace")


async def test_async_context_manager_and_fault_wait() -> None:
    if reason := netns.ip_available():
        pytest.skip(reason)
    import asyncio

    async with LabHome() as lab:
        fault = await asyncio.to_thread(lab.faults.dns_failure, 0.5)
        async with asyncio.timeout(10):
            await fault.wait_async()
        assert not fault.active and fault.ended_at is not None
        prefix = lab.prefix
    assert netns.namespaces_of(prefix) == []
