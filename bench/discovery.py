"""Discovery at scale in the lab: 500 devices over MQTT (retained, mixed families) and 50 mDNS services.

``python -m bench.discovery``: builds a lab home whose device namespaces run simulators with ``--count``
(Tasmota, Shelly, ESPHome and Zigbee2MQTT bridges over the hub's broker; Sonos and HomeKit over mDNS), waits
until every announcement is out, then starts the agent's discovery in the hub namespace and prints how long
it took until the inventory held every MQTT device and every mDNS service. Nothing is asserted.
First it replays the corpus of real payloads (``bench/discovery_corpus.py``) through a loopback Mosquitto and
prints ``corpus: N/M devices understood`` (``--corpus`` prints only that, without the lab).
The MQTT simulators publish no mDNS (``--no-mdns``): registering hundreds of services one after the other
would take minutes. The same mDNS figure comes from ``avahi-browse -rpt`` against an avahi-daemon started in
the hub namespace (with a private D-Bus system bus; skipped when this machine already has one), from the
daemon's start to the browse's end.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import time
from pathlib import Path

from bench.discovery_corpus import score
from lab import netns
from lab.home import DeviceSpec, LabHome
from lab.mosquitto import Mosquitto

SCRIPT = r"""
import asyncio, json, sys, time
from agent.clock import Clock
from agent.config import AgentConfig
from agent.discovery import Discovery
from agent.evidence import MemorySink
from agent.inventory import InventoryStore

async def main(broker, interface, mqtt_expected, mdns_expected):
    config = AgentConfig.model_validate({"state_dir": "/tmp/homediag-bench-discovery", "broker": {"url": broker},
                                         "network": {"interfaces": [interface]}, "discovery": {"arp": False}})
    store = InventoryStore(None, max_devices=5000)
    started = time.perf_counter()
    found = {}
    async with Discovery(config, MemorySink(), store, clock=Clock()):
        while time.perf_counter() - started < 60 and len(found) < 2:
            devices = store.snapshot().devices
            mqtt = sum(1 for d in devices if d.family in ("tasmota", "shelly_gen2", "esphome")
                       and any(not s.startswith("mdns") for s in d.sources))
            mdns = sum(1 for d in devices if d.family in ("sonos", "homekit"))
            if "mqtt" not in found and mqtt >= mqtt_expected:
                found["mqtt"] = time.perf_counter() - started
            if "mdns" not in found and mdns >= mdns_expected:
                found["mdns"] = time.perf_counter() - started
            await asyncio.sleep(0.05)
        families = {}
        for d in store.snapshot().devices:
            families[d.family] = families.get(d.family, 0) + 1
        print(json.dumps({"found": found, "devices": len(store.snapshot().devices), "mqtt": mqtt, "mdns": mdns,
                          "families": families}))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""

# The simulators' Zigbee2MQTT children share IEEE addresses across bridges, so count mode uses the other families.
MQTT_SPECS = [
    DeviceSpec("tas", "tasmota", 60.0, args=("--count", "250", "--no-mdns")),
    DeviceSpec("sh", "shelly", 60.0, args=("--count", "125", "--no-mdns")),
    DeviceSpec("esp", "esphome", 60.0, args=("--count", "125", "--no-mdns")),
]
MQTT_DEVICES = 500
MDNS_SPECS = [
    DeviceSpec("sonos", "sonos", 60.0, args=("--count", "25")),
    DeviceSpec("hap", "homekit", 60.0, args=("--count", "25")),
]
MDNS_SERVICES = 50


def _wait_announced(lab: LabHome, limit_s: float = 180) -> int:
    """Until every simulated MQTT device's retained birth message is at the broker and the mDNS simulators have
    registered their services."""
    deadline = time.monotonic() + limit_s
    count = 0
    while time.monotonic() < deadline:
        out = lab.run(
            lab.hub_ns,
            ["mosquitto_sub", "-h", "127.0.0.1", "-t", "tele/+/LWT", "-t", "+/online", "-t", "+/status", "-W", "2"],
            check=False,
        ).stdout
        count = sum(1 for line in out.splitlines() if line.strip() in ("Online", "true", "online"))
        registered = all(
            "services registered" in (process.log_tail(4000) if (process := lab.devices[spec.name].process) else "")
            for spec in MDNS_SPECS
        )
        if count >= MQTT_DEVICES and registered:
            break
        time.sleep(5)
    return count


AVAHI_CONF = """[server]
use-ipv4=yes
use-ipv6=no
allow-interfaces={iface}
enable-dbus=yes
host-name=hub-avahi-bench
[publish]
disable-publishing=yes
"""
DBUS_SOCKET = Path("/run/dbus/system_bus_socket")


def _bus_answers() -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(DBUS_SOCKET))
        except OSError:
            return False
    return True


def avahi_browse(lab: LabHome) -> tuple[float, int] | None:
    """Seconds from avahi-daemon's start until ``avahi-browse -rpt`` has resolved the mDNS services, and how many."""
    if _bus_answers():
        return None  # a system bus of the machine itself: not ours to start a second one
    DBUS_SOCKET.unlink(missing_ok=True)  # a stale socket file left by a killed run
    etc = netns.NETNS_ETC_DIR / lab.hub_ns / "avahi"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "avahi-daemon.conf").write_text(AVAHI_CONF.format(iface=lab.hub_iface))
    DBUS_SOCKET.parent.mkdir(exist_ok=True)
    bus = lab.spawn(lab.hub_ns, ["dbus-daemon", "--system", "--nofork", "--nopidfile"], name="bench-dbus")
    try:
        deadline = time.monotonic() + 10
        while not DBUS_SOCKET.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.perf_counter()
        avahi = lab.spawn(
            lab.hub_ns,
            ["avahi-daemon", "--no-drop-root", "--no-chroot", "--no-rlimits", "-f", "/etc/avahi/avahi-daemon.conf"],
            name="bench-avahi",
        )
        while "Server startup complete" not in avahi.log_tail(4000) and time.perf_counter() - started < 20:
            time.sleep(0.02)
        resolved = 0
        for service_type in ("_sonos._tcp", "_hap._tcp"):
            out = lab.run(lab.hub_ns, ["avahi-browse", "-rpt", service_type], check=False, timeout=60).stdout
            resolved += sum(1 for line in out.splitlines() if line.startswith("="))
        return time.perf_counter() - started, resolved
    finally:
        bus.stop()
        DBUS_SOCKET.unlink(missing_ok=True)


def corpus() -> None:
    with Mosquitto() as broker, tempfile.TemporaryDirectory() as state_dir:
        results = score(broker.host, broker.port, Path(state_dir))
    for result in results:
        for failure in result.failures:
            print(f"  {result.name}: {failure}")
    print(
        f"corpus: {sum(r.understood for r in results)}/{sum(r.expected for r in results)} devices understood "
        f"({len(results)} upstream sources)"
    )


def main() -> None:
    corpus()
    if "--corpus" in sys.argv[1:]:
        return
    with LabHome(devices=[*MQTT_SPECS, *MDNS_SPECS]) as lab:
        lab.start_broker()
        announced = _wait_announced(lab)
        done = lab.run(
            lab.hub_ns,
            [
                sys.executable,
                "-c",
                SCRIPT,
                f"mqtt://127.0.0.1:{lab.broker_port}",
                lab.hub_iface,
                str(MQTT_DEVICES),
                str(MDNS_SERVICES),
            ],
            timeout=120,
        )
        avahi = avahi_browse(lab)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    found = result["found"]
    print(f"{announced} MQTT devices announced (retained) before the agent started")
    print(
        f"MQTT: {result['mqtt']} of {MQTT_DEVICES} devices, inventory complete after "
        f"{found.get('mqtt', float('nan')):.2f} s (target <= 3 s after the last announcement)"
    )
    print(f"mDNS: {result['mdns']} of {MDNS_SERVICES} services, complete after {found.get('mdns', float('nan')):.2f} s")
    if avahi is None:
        print("avahi-browse: skipped (this machine runs its own D-Bus system bus)")
    else:
        seconds, resolved = avahi
        ratio = found.get("mdns", float("nan")) / seconds
        print(
            f"avahi-browse -rpt: {resolved} services resolved {seconds:.2f} s after avahi-daemon started; "
            f"agent / avahi = {ratio:.2f} (target <= 1.2)"
        )
    print(f"inventory: {result['devices']} devices {result['families']}")


if __name__ == "__main__":
    main()
