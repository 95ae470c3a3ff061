"""Reboots from every signal a device gives (uptime, boot counters, reset reasons and boot lines), one event per
boot; and the inventory cap, which keeps devices showing signs of life over bare announcements."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.clock import Clock
from agent.discovery.mqtt import MqttDiscovery
from agent.evidence import MemorySink
from agent.inventory import DeviceUpdate, DropReason, InventoryStore
from shared.models import Device, EventKind, TimelineEvent
from tests.configs import agent_config

AT = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def j(value: object) -> bytes:
    return json.dumps(value).encode()


class Home:
    def __init__(self, tmp_path: Path, max_devices: int = 5000) -> None:
        config = agent_config(tmp_path, broker={"url": "mqtt://127.0.0.1:1"})
        self.sink, self.store = MemorySink(), InventoryStore(None, max_devices=max_devices)
        self.discovery = MqttDiscovery(config, self.sink, self.store, Clock())

    def at(self, seconds: float, topic: str, payload: bytes) -> None:
        self.discovery.handle(topic, payload, AT + timedelta(seconds=seconds))

    def reboots(self) -> list[TimelineEvent]:
        return [e for e in self.sink.events if e.kind is EventKind.DEVICE_REBOOT]

    def known(self, key: str) -> Device:
        device = self.store.get(key)
        assert device is not None, f"no device {key}"
        return device


def test_a_crash_loop_announced_only_by_reset_reasons_is_counted_boot_by_boot(tmp_path: Path) -> None:
    """ESPHome's debug component logs the reset reason once per boot; a node without an uptime sensor says nothing
    else. The version banner of the same boot, a second later, is the same boot."""
    home = Home(tmp_path)
    home.at(0, "kitchen/status", b"online")
    for boot in range(4):
        start = 30 + boot * 40
        home.at(
            start, "kitchen/debug", b"\x1b[0;32m[I][app:100]: ESPHome version 2025.2.0 compiled on Feb 1 2025\x1b[0m"
        )
        home.at(start + 1, "kitchen/debug", b"\x1b[0;36m[D][debug:282]: Reset Reason: Software Reset CPU\x1b[0m")
    reboots = home.reboots()
    assert [e.ts - AT for e in reboots] == [timedelta(seconds=31 + 40 * n) for n in range(4)]
    assert {e.detail["reason"] for e in reboots} == {"Software Reset CPU"}
    assert home.known("esphome:kitchen").restart_reason == "Software Reset CPU"  # no colour codes left


def test_a_boot_seen_by_its_announcement_and_then_by_uptime_is_one_reboot(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.at(0, "tele/plug/STATE", j({"UptimeSec": 5000, "Wifi": {"Signal": -60}}))
    home.at(100, "tele/plug/INFO3", j({"Info3": {"RestartReason": "Software Watchdog", "BootCount": 7}}))
    home.at(125, "tele/plug/STATE", j({"UptimeSec": 30, "Wifi": {"Signal": -60}}))  # the same boot, by uptime
    home.at(400, "tele/plug/STATE", j({"UptimeSec": 5, "Wifi": {"Signal": -60}}))  # another one
    reboots = home.reboots()
    assert [e.ts - AT for e in reboots] == [timedelta(seconds=100), timedelta(seconds=400)]
    assert reboots[0].detail["reason"] == "Software Watchdog"


def test_shelly_reset_reasons_and_zigbee_device_announce_are_said_in_words(tmp_path: Path) -> None:
    home = Home(tmp_path)
    status: dict[str, Any] = {
        "src": "shellyplus1-a8032abcf5f0",
        "method": "NotifyFullStatus",
        "params": {"sys": {"uptime": 8000, "reset_reason": 3}},
    }
    home.at(0, "garage/shellyplus1-a8032abcf5f0/events/rpc", j(status))
    status["params"]["sys"] = {"uptime": 4, "reset_reason": 4}
    home.at(60, "garage/shellyplus1-a8032abcf5f0/events/rpc", j(status))
    home.at(
        0,
        "zigbee2mqtt/bridge/devices",
        j([{"ieee_address": "0x00158d0001a2b3c4", "type": "EndDevice", "friendly_name": "door"}]),
    )
    home.at(
        90,
        "zigbee2mqtt/bridge/event",
        j({"type": "device_announce", "data": {"friendly_name": "door", "ieee_address": "0x00158d0001a2b3c4"}}),
    )
    shelly, door = home.reboots()
    assert (
        shelly.detail["reason"] == "crash (panic)"
        and shelly.device_id == home.known("shelly:shellyplus1-a8032abcf5f0").id
    )
    assert door.detail["reason"] == "rejoined the Zigbee network (device announce)"


def test_at_the_cap_living_devices_are_kept_over_a_flood_of_bare_announcements(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = Home(tmp_path, max_devices=5)
    for n in range(5):
        home.at(0, f"tasmota/discovery/FAKE{n:08X}/config", j({"t": f"fake{n}", "mac": f"02000000{n:04X}"}))
    with caplog.at_level(logging.WARNING, logger="agent.inventory"):
        for n in range(5, 105):
            home.at(1, f"tasmota/discovery/FAKE{n:08X}/config", j({"t": f"fake{n}", "mac": f"02000000{n:04X}"}))
        home.at(2, "tele/kitchen/LWT", b"Online")  # a real device arrives after the flood
        home.at(3, "tele/kitchen/STATE", j({"UptimeSec": 50}))
    assert home.known("tasmota:kitchen").available is True and len(home.store) == 5
    assert home.store.dropped == {DropReason.CAP_BARE_ANNOUNCEMENT: 100, DropReason.EVICTED_BARE_ANNOUNCEMENT: 1}
    assert "100 × turned away: a bare announcement" in home.store.drop_summary()
    assert any("at the cap" in record.message for record in caplog.records)
    # fake0 made room for the kitchen; showing life now, each comes back in place of the next bare one.
    for n in range(4):
        home.at(4, f"tele/fake{n}/LWT", b"Online")
    assert home.store.get("tasmota:fake4") is None and home.known("tasmota:fake0").available is True
    home.at(6, "tele/newcomer/LWT", b"Online")  # every device kept lives: nothing to take the place of
    assert home.store.get("tasmota:newcomer") is None
    assert home.store.dropped[DropReason.CAP_NOTHING_TO_EVICT] == 1
    assert home.store.dropped[DropReason.EVICTED_BARE_ANNOUNCEMENT] == 5


def test_an_update_naming_two_known_devices_joins_them(tmp_path: Path) -> None:
    store = InventoryStore(None)
    store.observe(DeviceUpdate(keys=("z2m:zigbee2mqtt:door",), source="zigbee2mqtt", link_quality=80), AT)
    store.observe(DeviceUpdate(keys=("ha:zigbee2mqtt_0x1", "ieee:0x1"), source="homeassistant", model="WSDCGQ11LM"), AT)
    assert len(store) == 2
    store.observe(DeviceUpdate(keys=("ieee:0x1", "z2m:zigbee2mqtt:door"), source="zigbee2mqtt", name="door"), AT)
    [device] = store.snapshot().devices
    assert (device.model, device.link_quality, device.name) == ("WSDCGQ11LM", 80, "door")
    assert store.get("z2m:zigbee2mqtt:door") is store.get("ha:zigbee2mqtt_0x1")


KEYS = st.sampled_from(
    [
        "mac:02:00:00:00:00:01",
        "mac:02:00:00:00:00:02",
        "ieee:0x1",
        "ieee:0x2",
        "ha:a",
        "ha:b",
        "esphome:n",
        "tasmota:t",
        "shelly:s",
        "z2m:zigbee2mqtt:door",
    ]
)
UPDATES = st.builds(
    DeviceUpdate,
    keys=st.lists(KEYS, min_size=1, max_size=3, unique=True).map(tuple),
    source=st.sampled_from(["a", "b"]),
    macs=st.lists(st.sampled_from(["02:00:00:00:00:01", "0200000000 02", "junk"]), max_size=2).map(tuple),
    parent_key=st.none() | KEYS,
    available=st.none() | st.booleans(),
    uptime_s=st.none() | st.floats(0, 1e6),
    boot_announced=st.booleans(),
    name=st.none() | st.sampled_from(["x", "y"]),
)


@settings(max_examples=300, deadline=None)
@given(updates=st.lists(st.tuples(UPDATES, st.integers(0, 600)), max_size=25), cap=st.integers(1, 6))
def test_joins_and_the_cap_keep_the_inventory_consistent(updates: list[tuple[DeviceUpdate, int]], cap: int) -> None:
    store = InventoryStore(None, max_devices=cap)
    for update, seconds in updates:
        store.observe(update, AT + timedelta(seconds=seconds))
    devices = {d.id: d for d in store.snapshot().devices}
    assert len(devices) <= cap
    for key, device_id in store._key_index.items():  # every key leads to a device that is there
        assert device_id in devices, key
    for device in devices.values():
        assert store.get(device.id) is device and device.id not in device.identifiers
        for key in device.identifiers:
            assert store.get(key) is device, key


def test_a_configuration_dump_while_uptime_keeps_rising_is_no_reboot(tmp_path: Path) -> None:
    """ESPHome prints its configuration, reset reason included, again when a log viewer connects: with an uptime
    sensor the uptime decides, and a real reboot still gets the reason its boot logged."""
    home = Home(tmp_path)
    home.at(0, "attic/sensor/uptime/state", b"86400")
    home.at(30, "attic/debug", b"[D][debug:282]: Reset Reason: Power On Reset")  # a log viewer, not a boot
    home.at(60, "attic/sensor/uptime/state", b"86460")
    assert home.reboots() == []
    home.at(100, "attic/debug", b"[D][debug:282]: Reset Reason: Brownout Reset")  # booted at ~92
    home.at(130, "attic/sensor/uptime/state", b"38")
    [reboot] = home.reboots()
    assert reboot.ts - AT == timedelta(seconds=130) and reboot.detail["reason"] == "Brownout Reset"


def test_the_boot_that_brings_a_new_device_is_not_a_restart() -> None:
    """A device switched on for the first time says "online" and then announces its boot: that boot brought it to
    us (a lab home once counted it, and the device's next power cycle then looked like a crash loop)."""
    store = InventoryStore(None)
    plug = ("tasmota:plug",)
    store.observe(DeviceUpdate(keys=plug, source="tasmota", available=True), AT)
    first = store.observe(DeviceUpdate(keys=plug, source="tasmota", boot_announced=True), AT + timedelta(seconds=1))
    assert not [e for e in first if e.kind is EventKind.DEVICE_REBOOT]
    later = store.observe(DeviceUpdate(keys=plug, source="tasmota", boot_announced=True), AT + timedelta(minutes=5))
    assert [e.kind for e in later if e.kind is EventKind.DEVICE_REBOOT] == [EventKind.DEVICE_REBOOT]
