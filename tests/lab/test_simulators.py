"""Device simulators in the lab: real payloads on the hub's broker, LWT on power-off, reboots vs outages."""

from __future__ import annotations

import itertools
import json
import sys
import time

import pytest

from lab.home import DeviceSpec, LabHome, LabProcess

pytestmark = pytest.mark.lab


def record_mqtt(lab: LabHome, topic: str = "#") -> LabProcess:
    """Everything the hub's broker carries, one ``topic payload`` line each, into a log."""
    return lab.spawn(
        lab.hub_ns,
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(lab.broker_port), "-v", "-t", topic],
        name=f"recorder-{len(lab.processes)}",
    )


def payloads(recorder: LabProcess, topic: str) -> list[str]:
    lines = recorder.log_path.read_text(errors="replace").splitlines()
    return [line.split(" ", 1)[1] for line in lines if line.split(" ", 1)[0] == topic and " " in line]


def wait_payload(recorder: LabProcess, topic: str, predicate, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matching = [p for p in payloads(recorder, topic) if predicate(p)]
        if matching:
            return matching
        time.sleep(0.2)
    raise AssertionError(f"no {topic} payload matched within {timeout}s; log: {recorder.log_tail()}")


def fast(name: str, family: str, *extra: str) -> DeviceSpec:
    return DeviceSpec(name, family, report_interval=1.0, reconnect_delay=0.5, args=extra)


def test_families_publish_their_real_shapes(lab_home: LabHome) -> None:
    recorder = record_mqtt(lab_home)
    for spec in (
        fast("plug", "tasmota"),
        fast("shellyplus1pm-a8032abcf5f0", "shelly"),
        fast("zigbee2mqtt", "zigbee2mqtt"),
        fast("curtain-node", "esphome"),
    ):
        lab_home.add_device(spec)
    state = json.loads(wait_payload(recorder, "tele/plug/STATE", lambda p: True)[0])
    assert {"UptimeSec", "Wifi", "MqttCount"} <= state.keys() and state["Wifi"]["LinkCount"] == 1
    assert json.loads(wait_payload(recorder, "tele/plug/INFO3", lambda p: True)[0]) == {
        "Info3": {"RestartReason": "Power On", "BootCount": 1}
    }
    wait_payload(recorder, "tele/plug/LWT", lambda p: p == "Online")
    shelly = "shellyplus1pm-a8032abcf5f0"
    wait_payload(recorder, f"{shelly}/online", lambda p: p == "true")
    full = json.loads(wait_payload(recorder, f"{shelly}/events/rpc", lambda p: "NotifyFullStatus" in p)[0])
    assert full["params"]["sys"]["uptime"] >= 0 and "rssi" in full["params"]["wifi"]
    wait_payload(recorder, f"{shelly}/events/rpc", lambda p: "NotifyStatus" in p)
    wait_payload(recorder, "zigbee2mqtt/bridge/state", lambda p: json.loads(p) == {"state": "online"})
    health = json.loads(wait_payload(recorder, "zigbee2mqtt/bridge/health", lambda p: True)[0])
    assert "uptime_sec" in health["process"]
    wait_payload(recorder, "zigbee2mqtt/living_room_curtain", lambda p: "linkquality" in json.loads(p))
    wait_payload(recorder, "curtain-node/status", lambda p: p == "online")
    wait_payload(recorder, "curtain-node/debug", lambda p: "Reset Reason: Power On Reset" in p)


def test_power_off_shows_the_will_and_power_on_a_new_boot(lab_home: LabHome) -> None:
    recorder = record_mqtt(lab_home)
    lab_home.add_device(fast("lamp", "tasmota"))
    wait_payload(recorder, "tele/lamp/LWT", lambda p: p == "Online")
    off = lab_home.faults.device_power_off("lamp")
    wait_payload(recorder, "tele/lamp/LWT", lambda p: p == "Offline")
    assert off.active
    assert lab_home.faults.device_power_on("lamp") is off and not off.active
    info3 = wait_payload(recorder, "tele/lamp/INFO3", lambda p: '"BootCount":2' in p)
    assert json.loads(info3[0])["Info3"]["RestartReason"] == "Power On"


def test_crash_loop_resets_uptime_with_a_crash_reason(lab_home: LabHome) -> None:
    recorder = record_mqtt(lab_home)
    lab_home.add_device(fast("node", "esphome"))
    wait_payload(recorder, "node/status", lambda p: p == "online")
    fault = lab_home.faults.device_crash_loop("node", restarts=2, interval_s=1.5)
    fault.wait(20)
    assert len(fault.details["restarts_at"]) == 2
    reasons = wait_payload(recorder, "node/debug", lambda p: "Reset Reason: Software Reset CPU" in p)
    assert len(reasons) >= 1
    assert "offline" in payloads(recorder, "node/status")
    uptimes = [int(p) for p in payloads(recorder, "node/sensor/uptime/state")]
    assert any(later < earlier for earlier, later in itertools.pairwise(uptimes)) or uptimes[-1] <= 2, uptimes


def test_router_reboot_is_an_outage_not_a_reboot_for_devices(lab_home: LabHome) -> None:
    recorder = record_mqtt(lab_home, "tele/+/STATE")
    lab_home.add_device(fast("heater", "tasmota"))
    before = json.loads(wait_payload(recorder, "tele/heater/STATE", lambda p: True)[-1])
    lab_home.faults.router_reboot(2.0).wait(15)
    after = json.loads(
        wait_payload(recorder, "tele/heater/STATE", lambda p: json.loads(p)["Wifi"]["LinkCount"] == 2, timeout=20)[-1]
    )
    assert after["UptimeSec"] > before["UptimeSec"]  # no reboot: uptime kept counting
    assert after["MqttCount"] == 2 and after["Wifi"]["Downtime"] != "0T00:00:00"


def test_mdns_devices_are_browsable_from_the_hub(lab_home: LabHome) -> None:
    lab_home.add_device(DeviceSpec("speaker", "sonos", args=("--boot-count", "7")))
    lab_home.add_device(fast("garage", "esphome"))
    script = """
import sys, time
from zeroconf import Zeroconf, ServiceBrowser, ServiceListener
zc = Zeroconf(interfaces=[sys.argv[1]])
found = {}
class L(ServiceListener):
    def add_service(self, zc, type_, name):
        info = zc.get_service_info(type_, name, 3000)
        if info: found[name] = info.decoded_properties
    update_service = add_service
    def remove_service(self, zc, type_, name): pass
ServiceBrowser(zc, ["_sonos._tcp.local.", "_esphomelib._tcp.local."], L())
deadline = time.monotonic() + 10
while time.monotonic() < deadline and len(found) < 2: time.sleep(0.1)
zc.close()
print(found)
"""
    out = lab_home.run(lab_home.hub_ns, [sys.executable, "-c", script, lab_home.hub_ip], timeout=30).stdout
    assert "'bootseq': '7'" in out and "_esphomelib._tcp" in out, out
