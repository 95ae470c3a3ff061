"""Every family's parser on the payload shapes of the protocols, and on garbage: no exception escapes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.clock import Clock
from agent.discovery import esphome, homeassistant, shelly, tasmota, zigbee2mqtt
from agent.discovery.mqtt import MqttDiscovery
from agent.evidence import MemorySink
from agent.inventory import DeviceUpdate, InventoryStore
from shared.models import Device, EventKind, LogLine
from tests.configs import agent_config

AT = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def updates(found: Sequence[DeviceUpdate | LogLine]) -> list[DeviceUpdate]:
    """What a parser said about devices; a log line among it fails the test."""
    assert all(isinstance(item, DeviceUpdate) for item in found), found
    return [item for item in found if isinstance(item, DeviceUpdate)]


def known(store: InventoryStore, key: str) -> Device:
    device = store.get(key)
    assert device is not None, f"no device {key}"
    return device


def j(value: object) -> bytes:
    return json.dumps(value).encode()


def test_tasmota_discovery_lwt_state_and_info() -> None:
    [config] = tasmota.parse(
        "tasmota/discovery/A4CF12AABBCC/config",
        j(
            {
                "ip": "10.0.0.5",
                "dn": "Kitchen",
                "hn": "kitchen-1234",
                "mac": "A4CF12AABBCC",
                "md": "Sonoff Basic",
                "sw": "14.4.1",
                "t": "kitchen",
            }
        ),
    )
    assert config.keys == ("tasmota:kitchen",) and config.macs == ("A4CF12AABBCC",) and config.firmware == "14.4.1"
    [lwt] = tasmota.parse("tele/kitchen/LWT", b"Offline")
    assert lwt.available is False
    [state] = tasmota.parse(
        "tele/kitchen/STATE", j({"UptimeSec": 93784, "Wifi": {"Signal": -71, "LinkCount": 3, "Downtime": "0T00:00:07"}})
    )
    assert (state.uptime_s, state.rssi_dbm, state.link_count) == (93784.0, -71.0, 3)
    [info1] = tasmota.parse(
        "tele/kitchen/INFO1", j({"Info1": {"Module": "Sonoff Basic", "Version": "13.4.0(tasmota)"}})
    )
    assert info1.firmware == "13.4.0"
    [info3] = tasmota.parse("tele/kitchen/INFO3", j({"Info3": {"RestartReason": "Software Watchdog", "BootCount": 12}}))
    assert (info3.restart_reason, info3.boot_seq) == ("Software Watchdog", 12)


def test_shelly_gen1_and_gen2() -> None:
    [announce] = shelly.parse(
        "shellies/announce",
        j(
            {
                "id": "shellyplug-s-7C87CE",
                "model": "SHPLG-S",
                "mac": "7C87CEAABBCC",
                "ip": "10.0.0.7",
                "new_fw": True,
                "fw_ver": "20230913-114008",
            }
        ),
    )
    assert announce.family == "shelly_gen1" and announce.attributes == {"new_fw": True}
    [online] = shelly.parse("shellies/shellyplug-s-7C87CE/online", b"false")
    assert online.available is False and online.keys == ("shelly:shellyplug-s-7C87CE",)
    [gen2] = shelly.parse(
        "shellyplus1pm-a8032ab/events/rpc",
        j(
            {
                "src": "shellyplus1pm-a8032ab",
                "method": "NotifyFullStatus",
                "params": {
                    "sys": {
                        "mac": "A8032ABCF5F0",
                        "uptime": 500,
                        "reset_reason": 4,
                        "available_updates": {"stable": {"version": "1.5.0"}},
                    },
                    "wifi": {"sta_ip": "10.0.0.9", "rssi": -84},
                },
            }
        ),
    )
    assert (gen2.uptime_s, gen2.rssi_dbm, gen2.restart_reason) == (500.0, -84.0, "crash (panic)")
    assert gen2.attributes["available_updates"]["stable"]["version"] == "1.5.0"
    assert shelly.parse("shellyplus1pm-a8032ab/events/rpc", j({"method": "NotifyEvent", "params": {}})) == []
    [info] = shelly.parse(
        "shellies/shellyplug-s-7C87CE/info",
        j(
            {
                "wifi_sta": {"connected": True, "ssid": "home", "ip": "10.0.0.7", "rssi": -77},
                "uptime": 4321,
                "mac": "7C87CEAABBCC",
                "update": {"status": "idle", "has_update": False, "old_version": "20230913-114008"},
            }
        ),
    )
    assert (info.uptime_s, info.rssi_dbm, info.firmware, info.ips) == (4321.0, -77.0, "20230913-114008", ("10.0.0.7",))
    [sys_status] = shelly.parse(
        "shellyplus1pm-a8032ab/status/sys", j({"mac": "A8032ABCF5F0", "uptime": 42, "reset_reason": 3})
    )
    assert (sys_status.uptime_s, sys_status.restart_reason, sys_status.family) == (
        42.0,
        "software restart",
        "shelly_gen2",
    )
    [wifi_status] = shelly.parse(
        "shellyplus1pm-a8032ab/status/wifi", j({"sta_ip": "10.0.0.9", "status": "got ip", "rssi": -61})
    )
    assert wifi_status.rssi_dbm == -61 and wifi_status.keys == sys_status.keys


def test_zigbee2mqtt_bridge_devices_and_children() -> None:
    devices = [
        {"ieee_address": "0x00124b0001", "type": "Coordinator", "friendly_name": "Coordinator"},
        {
            "ieee_address": "0x00158d0001a2b3c4",
            "type": "Router",
            "friendly_name": "curtain",
            "definition": {"model": "ZNCLDJ11LM", "vendor": "Aqara"},
            "software_build_id": "0.0.0_0025",
        },
    ]
    _coordinator, curtain = updates(zigbee2mqtt.parse("zigbee2mqtt/bridge/devices", j(devices), AT))
    assert curtain.parent_key == "ieee:0x00124b0001" and curtain.model == "ZNCLDJ11LM"
    [bridge] = updates(zigbee2mqtt.parse("zigbee2mqtt/bridge/state", b"offline", AT))  # legacy 1.x string
    assert bridge.available is False
    [bridge] = updates(zigbee2mqtt.parse("zigbee2mqtt/bridge/state", j({"state": "online"}), AT))
    assert bridge.available is True
    [log] = zigbee2mqtt.parse(
        "zigbee2mqtt/bridge/logging", j({"level": "error", "message": "Failed to ping 'curtain'"}), AT
    )
    assert isinstance(log, LogLine) and log.level == "error"
    [health] = updates(zigbee2mqtt.parse("zigbee2mqtt/bridge/health", j({"process": {"uptime_sec": 12}}), AT))
    assert health.uptime_s == 12
    [avail] = updates(zigbee2mqtt.parse("zigbee2mqtt/curtain/availability", j({"state": "offline"}), AT))
    assert avail.available is False
    [lqi] = updates(zigbee2mqtt.parse("zigbee2mqtt/curtain", j({"linkquality": 87, "position": 40}), AT))
    assert lqi.link_quality == 87
    joined = zigbee2mqtt.parse(
        "zigbee2mqtt/bridge/event",
        j({"type": "device_joined", "data": {"friendly_name": "new_plug", "ieee_address": "0xABC"}}),
        AT,
    )
    log, device = joined
    assert isinstance(log, LogLine) and isinstance(device, DeviceUpdate) and device.keys[0] == "ieee:0xabc"
    left = zigbee2mqtt.parse(
        "zigbee2mqtt/bridge/event",
        j({"type": "device_leave", "data": {"friendly_name": "curtain", "ieee_address": "0x00158d0001a2b3c4"}}),
        AT,
    )
    assert isinstance(left[1], DeviceUpdate) and left[1].available is False


def test_zigbee2mqtt_nested_names_commands_attribute_output_and_other_bridges() -> None:
    [avail] = updates(zigbee2mqtt.parse("zigbee2mqtt/living/curtain/availability", b"offline", AT))
    assert avail.keys == ("z2m:zigbee2mqtt:living/curtain",) and avail.available is False
    [state] = updates(zigbee2mqtt.parse("zigbee2mqtt/living/curtain", j({"linkquality": 40, "position": 3}), AT))
    assert state.keys == avail.keys and state.link_quality == 40
    [attribute] = updates(zigbee2mqtt.parse("zigbee2mqtt/living/curtain/linkquality", b"51", AT))
    assert attribute.keys == avail.keys and attribute.link_quality == 51
    for command in (
        "zigbee2mqtt/living/curtain/set",
        "zigbee2mqtt/living/curtain/set/position",
        "zigbee2mqtt/plug/get",
    ):
        assert zigbee2mqtt.parse(command, j({"linkquality": 1, "state": "ON"}), AT) == []
    assert zigbee2mqtt.parse("zigbee2mqtt/living/curtain/state", b"ON", AT) == []  # output: attribute
    [upstairs] = updates(
        zigbee2mqtt.parse("zigbee2mqtt_2/plug/availability", j({"state": "online"}), AT, base="zigbee2mqtt_2")
    )
    assert upstairs.keys == ("z2m:zigbee2mqtt_2:plug",)
    info = {
        "version": "2.1.3",
        "coordinator": {"ieee_address": "0x1", "type": "zStack3x0"},
        "config": {"mqtt": {"base_topic": "zigbee2mqtt_2"}},
    }
    assert zigbee2mqtt.announced_base("zigbee2mqtt_2/bridge/info", j(info)) == "zigbee2mqtt_2"
    assert zigbee2mqtt.announced_base("other/bridge/info", j(info)) is None  # says another base topic
    assert zigbee2mqtt.announced_base("hue/bridge/info", j({"name": "Hue"})) is None
    assert zigbee2mqtt.announced_base("x/bridge/info", b"\xff") is None


def test_zigbee2mqtt_bases_in_configuration(tmp_path: Path) -> None:
    old = agent_config(tmp_path, discovery={"zigbee2mqtt_base": "z2m"})
    assert old.discovery.zigbee2mqtt_bases == ["z2m"]
    both = agent_config(tmp_path, discovery={"zigbee2mqtt_bases": ["a", "b"]})
    assert both.discovery.zigbee2mqtt_bases == ["a", "b"] and both.discovery.zigbee2mqtt_autodetect


def test_esphome_and_home_assistant_discovery() -> None:
    [status] = updates(esphome.parse("curtain-esp/status", b"offline", AT))
    assert status.available is False
    log, reset = esphome.parse("curtain-esp/debug", b"[D][debug:040]: Reset Reason: Software Reset CPU", AT)
    assert isinstance(log, LogLine) and log.level == "debug"
    assert isinstance(reset, DeviceUpdate) and reset.restart_reason == "Software Reset CPU"
    config = {
        "~": "kitchen",
        "name": "uptime",
        "stat_t": "~/sensor/uptime/state",
        "avty_t": "~/status",
        "dev": {
            "ids": "a4cf12aabbcc",
            "name": "Kitchen",
            "mf": "Espressif",
            "mdl": "esp32dev",
            "sw": "2024.12.4",
            "cns": [["mac", "a4:cf:12:aa:bb:cc"]],
        },
    }
    [device] = homeassistant.parse("homeassistant/sensor/kitchen/uptime/config", j(config))
    assert device.manufacturer == "Espressif" and device.macs == ("a4:cf:12:aa:bb:cc",)
    assert device.attributes["availability"] == [{"topic": "kitchen/status", "online": "online", "offline": "offline"}]
    assert "esphome:kitchen" in device.keys
    device_based = {
        "dev": {"ids": ["x1"], "mf": "Acme"},
        "o": {"name": "fw"},
        "avty": [{"t": "x1/avail", "pl_avail": "up", "pl_not_avail": "down"}],
        "cmps": {"t1": {"p": "sensor", "stat_t": "x1/t"}},
    }
    [acme] = homeassistant.parse("homeassistant/device/x1/config", j(device_based))
    assert acme.attributes["availability"] == [{"topic": "x1/avail", "online": "up", "offline": "down"}]
    assert homeassistant.parse("homeassistant/sensor/kitchen/uptime/config", b"") == []


def test_esphome_sensors_are_known_by_how_their_object_id_ends() -> None:
    [uptime] = updates(esphome.parse("curtain-esp/sensor/living_room_curtain_uptime/state", b"93", AT))
    assert uptime.uptime_s == 93
    [booted] = updates(
        esphome.parse("curtain-esp/sensor/uptime/state", b"2026-11-24T02:58:20+00:00", AT)
    )  # a timestamp sensor
    assert booted.uptime_s == 100
    [signal] = updates(esphome.parse("curtain-esp/sensor/curtain_wifi_signal_db/state", b"-71", AT))
    assert signal.rssi_dbm == -71
    assert esphome.parse("curtain-esp/sensor/temperature/state", b"21.5", AT) == []
    assert esphome.parse("curtain-esp/sensor/uptime/state", b"nan-ish", AT) == []
    assert esphome.parse("curtain-esp/sensor/wifi_signal/state", b"nan", AT) == []  # no reading yet


def _discovery(tmp_path: Path) -> tuple[MqttDiscovery, MemorySink, InventoryStore]:
    config = agent_config(tmp_path, broker={"url": "mqtt://127.0.0.1:1"})
    sink, store = MemorySink(), InventoryStore(None)
    return MqttDiscovery(config, sink, store, Clock()), sink, store


def test_merge_events_and_malformed_counting(tmp_path: Path) -> None:
    discovery, sink, store = _discovery(tmp_path)
    discovery.handle(
        "tasmota/discovery/A4CF12AABBCC/config", j({"t": "kitchen", "mac": "A4CF12AABBCC", "sw": "13.4.0"}), AT
    )
    discovery.handle("tele/kitchen/LWT", b"Online", AT)
    discovery.handle("tele/kitchen/STATE", j({"UptimeSec": 1000, "Wifi": {"Signal": -60, "LinkCount": 1}}), AT)
    discovery.handle("tele/kitchen/STATE", j({"UptimeSec": 1100, "Wifi": {"Signal": -60, "LinkCount": 2}}), AT)
    discovery.handle("tele/kitchen/STATE", j({"UptimeSec": 20, "Wifi": {"Signal": -60, "LinkCount": 1}}), AT)
    discovery.handle(
        "tasmota/discovery/A4CF12AABBCC/config", j({"t": "kitchen", "mac": "A4CF12AABBCC", "sw": "14.4.1"}), AT
    )
    discovery.handle("tele/kitchen/STATE", b"\xff\xfe not json", AT)
    discovery.handle("tele/kitchen/STATE", b"[1, 2]", AT)
    discovery.handle("tele/kitchen/STATE", b"x" * (300 * 1024), AT)
    [device] = store.snapshot().devices
    assert device.id == "mac:a4:cf:12:aa:bb:cc" and device.firmware == "14.4.1" and device.available is True
    kinds = [e.kind for e in sink.events]
    assert kinds.count(EventKind.DEVICE_JOINED) == 1 and EventKind.WIFI_RECONNECT in kinds
    assert EventKind.DEVICE_REBOOT in kinds and EventKind.FIRMWARE_CHANGED in kinds
    assert discovery.malformed == {"tasmota": 2, "oversized": 1}
    assert len(store.recent_messages("tasmota:kitchen")) == 4


def test_tasmota_with_a_custom_full_topic_is_followed_by_its_lwt(tmp_path: Path) -> None:
    discovery, _sink, store = _discovery(tmp_path)
    config = {
        "t": "garage",
        "mac": "A4CF12DDEEFF",
        "hn": "garage-3f",
        "sw": "14.4.1",
        "ft": "home/%topic%/%prefix%/",
        "tp": ["cmnd", "stat", "tele"],
        "onln": "Online",
        "ofln": "Offline",
    }
    assert tasmota.lwt_topic(config, "garage") == "home/garage/tele/LWT"
    assert tasmota.lwt_topic({**config, "ft": "%prefix%/%topic%/"}, "garage") is None
    assert tasmota.lwt_topic({**config, "ft": "%prefix%/%hostname%/%id%"}, "garage") == "tele/garage-3f/DDEEFF/LWT"
    discovery.handle("tasmota/discovery/A4CF12DDEEFF/config", j(config), AT)
    discovery.handle("home/garage/tele/LWT", b"Offline", AT)
    [device] = store.snapshot().devices
    assert device.available is False and "tasmota.availability" in device.sources


def test_a_reboot_is_uptime_implying_a_later_boot(tmp_path: Path) -> None:
    """A device that crashes a few seconds after booting (uptime 3 s, then 0) rebooted as much as one that ran for
    days; uptime readings that agree with the clock, or the same retained reading again, are no reboot."""
    discovery, sink, _store = _discovery(tmp_path)

    def uptime(seconds_after: float, value: int) -> None:
        discovery.handle("node/sensor/uptime/state", str(value).encode(), AT + timedelta(seconds=seconds_after))

    uptime(0, 90_000)
    uptime(60, 90_060)
    uptime(60.5, 90_060)  # the retained value again after a reconnect
    uptime(70, 1)  # crash
    uptime(73, 3)
    discovery.handle("node/debug", b"[D][debug:040]: Reset Reason: Brownout Reset", AT + timedelta(seconds=78.5))
    uptime(79, 0)  # crash again 9 s later, with a last reading of only 3 s
    uptime(81, 2)
    uptime(81.2, 1)  # jitter of one representation against another: no boot moved 5 s
    reboots = [e for e in sink.events if e.kind is EventKind.DEVICE_REBOOT]
    assert [e.ts - AT for e in reboots] == [timedelta(seconds=70), timedelta(seconds=79)]
    assert "reason" not in reboots[0].detail and reboots[1].detail["reason"] == "Brownout Reset"


TOPICS = st.one_of(
    st.sampled_from(
        [
            "tasmota/discovery/A4CF12AABBCC/config",
            "tele/x/LWT",
            "tele/x/STATE",
            "tele/x/INFO1",
            "tele/x/INFO3",
            "shellies/announce",
            "shellies/x/online",
            "shellies/x/info",
            "x/online",
            "x/events/rpc",
            "x/status/sys",
            "x/status/wifi",
            "zigbee2mqtt/bridge/devices",
            "zigbee2mqtt/bridge/state",
            "zigbee2mqtt/bridge/info",
            "zigbee2mqtt/bridge/health",
            "zigbee2mqtt/bridge/logging",
            "zigbee2mqtt/x/availability",
            "zigbee2mqtt/x",
            "zigbee2mqtt/x/y/availability",
            "zigbee2mqtt/x/linkquality",
            "zigbee2mqtt/x/set",
            "z2/bridge/info",
            "x/status",
            "x/debug",
            "x/sensor/uptime/state",
            "x/sensor/x_wifi_signal/state",
            "homeassistant/sensor/x/y/config",
            "homeassistant/device/x/config",
            "homeassistant/sensor/n/x/y/config",
            "stat/x/STATUS0",
            "stat/x/STATUS11",
            "stat/x/STATE",
            "stat/x/RESULT",
            "tele/x/INFO2",
            "tasmota_x/tele/STATE",
            "x/text_sensor/reset_reason/state",
            "a/b/online",
            "a/b/c/events/rpc",
            "a/b/status/sys",
            "a/b/status",
            "a/b/debug",
            "a/b/sensor/uptime/state",
            "zigbee2mqtt/bridge/config/devices",
            "zigbee2mqtt/bridge/event",
            "home/z2m/bridge/info",
            "x/y/availability",
        ]
    ),
    st.text(max_size=40),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
PAYLOADS = st.one_of(st.binary(max_size=200), JSONISH.map(lambda v: json.dumps(v).encode()))


FOLLOWING_CONFIGS = [
    (
        "homeassistant/device/x/config",
        {
            "dev": {"ids": ["x"]},
            "o": {"name": "t"},
            "avty_mode": "all",
            "avty": [{"t": "x/avail", "val_tpl": "{{ value_json.state }}"}, {"t": "~/status"}],
            "~": "a/b",
            "cmps": {},
        },
    ),
    ("tasmota/discovery/A4CF12AABBCC/config", {"t": "x", "mac": "A4CF12AABBCC", "ft": "%topic%/%prefix%/"}),
]
TOPICS = st.one_of(TOPICS, st.sampled_from(["x/avail", "tasmota_x/tele/LWT", "tasmota_x/stat/STATUS1"]))


@settings(max_examples=400, deadline=None)
@given(topic=TOPICS, payload=PAYLOADS)
def test_no_payload_makes_a_parser_raise(tmp_path_factory, topic: str, payload: bytes) -> None:  # type: ignore[no-untyped-def]
    discovery, _sink, store = _discovery(tmp_path_factory.mktemp("d"))
    for named, config in FOLLOWING_CONFIGS:  # configs that make the agent follow x/avail and read tasmota_x/tele/…
        discovery.handle(named, j(config), AT)
    discovery.handle(topic, payload, AT)
    for device in store.snapshot().devices:
        assert device.id


def test_availability_templates_of_the_common_forms_render() -> None:
    from agent.discovery.templates import render_availability

    assert render_availability("{{ value_json.state }}", '{"state": "online"}') == "online"
    assert render_availability("{{ value_json['state'] | lower }}", '{"state": "OFFLINE"}') == "offline"
    assert (
        render_availability("{{ 'online' if value_json.connected else 'offline' }}", '{"connected": false}')
        == "offline"
    )
    assert render_availability("{{ value }}", "online") == "online"
    assert render_availability("{{ value_json.state }}", "not json") == ""  # undefined renders empty: says nothing
    for hostile in (
        "{{ 'x' * 999999999 }}",
        "{{ 9 ** 999999 }}",
        "{{ '%999999999s' % 1 }}",
        "{{ 'a'.ljust(999999999) }}",
        "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
        "{{ ''.__class__.__mro__ }}",
        "{{ 'a'|center(999999999) }}",
        "{{ cycler.__init__.__globals__ }}",
    ):
        assert render_availability(hostile, "{}") in (None, ""), hostile


@settings(max_examples=300, deadline=None)
@given(
    template=st.one_of(st.text(max_size=60), st.text(max_size=40).map(lambda t: "{{ " + t + " }}")),
    payload=st.one_of(st.text(max_size=40), JSONISH.map(json.dumps)),
)
def test_no_template_makes_availability_raise(template: str, payload: str) -> None:
    from agent.discovery.templates import render_availability

    rendered = render_availability(template, payload)
    assert rendered is None or len(rendered) <= 256


def test_home_assistant_availability_modes_tilde_at_either_end_and_removal(tmp_path: Path) -> None:
    discovery, _sink, store = _discovery(tmp_path)
    config = {
        "~": "plugs/p1",
        "name": None,
        "uniq_id": "p1-relay",
        "cmd_t": "~/set",
        "avty_mode": "all",
        "avty": [
            {"t": "~/state", "val_tpl": "{{ value_json.link }}", "pl_avail": "up", "pl_not_avail": "down"},
            {"t": "bridge/~"},
        ],
        "dev": {"ids": ["p1"], "cns": [["mac", "02-11-22-33-44-55"], ["zigbee", "0x00158D0001A2B3C4"]]},
    }
    discovery.handle("homeassistant/switch/node7/p1/config", j(config), AT)  # a node_id level
    [device] = store.snapshot().devices
    assert device.macs == ["02:11:22:33:44:55"] and store.get("ieee:0x00158d0001a2b3c4") is not None
    discovery.handle("plugs/p1/state", j({"link": "up"}), AT)
    assert known(store, "ha:p1").available is None  # "all": bridge/plugs/p1 has said nothing yet
    discovery.handle("bridge/plugs/p1", b"online", AT)
    assert known(store, "ha:p1").available is True
    discovery.handle("plugs/p1/state", j({"link": "down"}), AT)
    assert known(store, "ha:p1").available is False
    discovery.handle("homeassistant/switch/node7/p1/config", b"", AT)  # removed: its topics say nothing any more
    discovery.handle("plugs/p1/state", j({"link": "up"}), AT)
    discovery.handle("bridge/plugs/p1", b"online", AT)
    assert known(store, "ha:p1").available is False
    any_mode = {**config, "avty_mode": "any", "dev": {"ids": ["p2"]}, "~": "plugs/p2"}
    discovery.handle("homeassistant/switch/p2/config", j(any_mode), AT)
    discovery.handle("bridge/plugs/p2", b"online", AT)
    assert known(store, "ha:p2").available is True


def test_prefixes_and_bases_of_several_levels(tmp_path: Path) -> None:
    discovery, _sink, store = _discovery(tmp_path)
    info = {
        "version": "2.1.3",
        "coordinator": {"ieee_address": "0x00124b0001", "type": "zStack3x0"},
        "config": {"mqtt": {"base_topic": "home/zigbee"}},
    }
    assert zigbee2mqtt.announced_base("home/zigbee/bridge/info", j(info)) == "home/zigbee"
    discovery.handle("home/zigbee/bridge/info", j(info), AT)
    discovery.handle(
        "home/zigbee/bridge/devices",
        j(
            [
                {"ieee_address": "0x00124b0001", "type": "Coordinator"},
                {"ieee_address": "0x00158d0001", "type": "EndDevice", "friendly_name": "door"},
            ]
        ),
        AT,
    )
    discovery.handle("home/zigbee/door/availability", j({"state": "offline"}), AT)
    assert known(store, "ieee:0x00158d0001").available is False
    discovery.handle("esp/kitchen/status", b"online", AT)  # ESPHome topic_prefix: esp/kitchen
    discovery.handle("esp/kitchen/sensor/uptime/state", b"42", AT)
    assert known(store, "esphome:esp/kitchen").uptime_s == 42
    discovery.handle("shelly-ht/shelly-plus-ht-01/online", b"true", AT)
    discovery.handle(
        "shelly-ht/shelly-plus-ht-01/events/rpc",
        j({"src": "shellyplusht-08b61fcb7f3c", "method": "NotifyStatus", "params": {"sys": {"uptime": 7}}}),
        AT,
    )
    assert store.get("shelly:shellyplusht-08b61fcb7f3c") is store.get("shelly:shelly-ht/shelly-plus-ht-01")


def test_a_gateway_naming_one_status_topic_for_its_children_keeps_them_apart(tmp_path: Path) -> None:
    discovery, _sink, store = _discovery(tmp_path)
    for child in ("aa01", "aa02", "aa03"):
        discovery.handle(
            f"homeassistant/sensor/{child}/t/config",
            j(
                {
                    "uniq_id": f"{child}-t",
                    "stat_t": f"ble2mqtt/{child}/state",
                    "avty_t": "ble2mqtt/status",
                    "dev": {"ids": [child], "name": child},
                }
            ),
            AT,
        )
    discovery.handle("ble2mqtt/status", b"online", AT)
    assert {known(store, f"ha:{child}").id for child in ("aa01", "aa02", "aa03")} == {"ha:aa01", "ha:aa02", "ha:aa03"}
    assert all(known(store, f"ha:{child}").available for child in ("aa01", "aa02", "aa03"))


def test_tasmota_announced_through_its_own_home_assistant_discovery_is_one_device(tmp_path: Path) -> None:
    """Tasmota's legacy Home Assistant discovery keys the device by the last six hex digits of its MAC (no MAC) and
    names its LWT: the LWT's topic is what links it to the device the Tasmota adapter knows."""
    discovery, _sink, store = _discovery(tmp_path)
    discovery.handle(
        "homeassistant/sensor/35EBF6_ENERGY_TotalStartTime/config",
        j(
            {
                "name": "3DPrinter ENERGY TotalStartTime",
                "stat_t": "tele/EZPlug_35EBF6/SENSOR",
                "avty_t": "tele/EZPlug_35EBF6/LWT",
                "pl_avail": "Online",
                "pl_not_avail": "Offline",
                "uniq_id": "35EBF6_ENERGY_TotalStartTime",
                "dev": {"ids": ["35EBF6"]},
            }
        ),
        AT,
    )
    discovery.handle("tele/EZPlug_35EBF6/STATE", j({"UptimeSec": 77, "Wifi": {"Signal": -70}}), AT)
    discovery.handle("tele/EZPlug_35EBF6/LWT", b"Online", AT)
    [device] = store.snapshot().devices
    assert (device.uptime_s, device.available) == (77, True)
    [legacy] = updates(
        zigbee2mqtt.parse(
            "zigbee2mqtt/bridge/config", j({"version": "1.35.1", "coordinator": {"type": "zStack3x0"}}), AT
        )
    )
    assert legacy.firmware == "1.35.1"


def test_esphome_reset_reason_text_sensor_is_the_reason_not_a_boot(tmp_path: Path) -> None:
    discovery, sink, store = _discovery(tmp_path)
    discovery.handle("porch/status", b"online", AT)
    discovery.handle("porch/text_sensor/porch_reset_reason/state", b"Brownout Reset", AT + timedelta(seconds=30))
    assert known(store, "esphome:porch").restart_reason == "Brownout Reset"
    assert not [e for e in sink.events if e.kind is EventKind.DEVICE_REBOOT]
    assert esphome.parse("porch/text_sensor/porch_ip/state", b"10.0.0.3", AT) == []


def test_home_assistants_own_birth_message_is_no_device(tmp_path: Path) -> None:
    discovery, _sink, store = _discovery(tmp_path)
    discovery.handle("homeassistant/status", b"online", AT)
    assert store.snapshot().devices == []
