"""One physical device, one entry: whatever set of its announcements arrives, in whatever order, the inventory
holds it once with the union of what they said — as long as the announcements are linked by identifiers they
carry (a MAC, an IEEE address, a node or topic name); manufacturer strings never link anything."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.clock import Clock
from agent.discovery.mqtt import MqttDiscovery
from agent.evidence import MemorySink
from agent.inventory import InventoryStore, normalise_mac
from shared.models import Device
from tests.configs import agent_config

AT = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


@dataclass(frozen=True, eq=False)
class Message:
    topic: str
    payload: Any
    links: frozenset[str]  # the identifiers this message carries
    facts: dict[str, Any] = field(default_factory=dict)


def _bytes(payload: Any) -> bytes:
    return payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()


NAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=3, max_size=12).filter(lambda s: s[0].isalpha())
MACS = st.binary(min_size=6, max_size=6).map(
    lambda b: bytes([b[0] & 0xFC]) + b[1:]
)  # unicast, globally unique bit free
VENDORS = st.sampled_from(["Espressif", "Athom", "Sonoff", "Acme Labs", "Shelly", "Xiaomi"])
MAC_FORMS = st.sampled_from(["colon", "bare_upper", "bare_lower", "dash"])


def mac_text(mac: bytes, form: str) -> str:
    hexes = [f"{b:02x}" for b in mac]
    return {
        "colon": ":".join(hexes),
        "bare_upper": "".join(hexes).upper(),
        "bare_lower": "".join(hexes),
        "dash": "-".join(hexes).upper(),
    }[form]


@st.composite
def esphome_device(draw: st.DrawFn) -> list[Message]:
    node, mac, vendor, form = draw(NAMES), draw(MACS), draw(VENDORS), draw(MAC_FORMS)
    m = mac_text(mac, "colon")
    return [
        Message(f"{node}/status", "online", frozenset({f"node:{node}"}), {"available": True}),
        Message(
            f"homeassistant/sensor/{node}/uptime/config",
            {
                "name": "Uptime",
                "stat_t": f"{node}/sensor/uptime/state",
                "avty_t": f"{node}/status",
                "uniq_id": f"{node}-uptime",
                "dev": {
                    "ids": mac_text(mac, "bare_lower"),
                    "name": node,
                    "mf": vendor,
                    "mdl": "esp32dev",
                    "sw": "2025.2.0",
                    "cns": [["mac", mac_text(mac, form)]],
                },
            },
            frozenset({f"node:{node}", f"mac:{m}"}),
            {"manufacturer": vendor, "model": "esp32dev", "firmware": "2025.2.0", "mac": m},
        ),
        Message(
            f"{node}/debug",
            f"\x1b[0;35m[C][wifi:428]:   Local MAC: {m.upper()}\x1b[0m",
            frozenset({f"node:{node}", f"mac:{m}"}),
            {"mac": m},
        ),
        Message(f"{node}/sensor/uptime/state", "1234", frozenset({f"node:{node}"}), {"uptime_s": 1234.0}),
    ]


@st.composite
def tasmota_device(draw: st.DrawFn) -> list[Message]:
    topic, mac, form = draw(NAMES), draw(MACS), draw(MAC_FORMS)
    m = mac_text(mac, "colon")
    return [
        Message(
            f"tasmota/discovery/{mac_text(mac, 'bare_upper')}/config",
            {"t": topic, "mac": mac_text(mac, "bare_upper"), "md": "Sonoff Basic", "sw": "14.4.1", "dn": topic},
            frozenset({f"topic:{topic}", f"mac:{m}"}),
            {"model": "Sonoff Basic", "firmware": "14.4.1", "mac": m},
        ),
        Message(f"tele/{topic}/LWT", "Online", frozenset({f"topic:{topic}"}), {"available": True}),
        Message(
            f"tele/{topic}/STATE",
            {"UptimeSec": 99, "Wifi": {"Signal": -61, "LinkCount": 1}},
            frozenset({f"topic:{topic}"}),
            {"uptime_s": 99.0, "rssi_dbm": -61.0},
        ),
        Message(
            f"homeassistant/switch/{mac_text(mac, 'bare_upper')}_RL_1/config",
            {
                "name": "Relay",
                "cmd_t": f"cmnd/{topic}/POWER",
                "avty_t": f"tele/{topic}/LWT",
                "pl_avail": "Online",
                "pl_not_avail": "Offline",
                "uniq_id": f"{mac_text(mac, 'bare_upper')}_RL_1",
                "dev": {"cns": [["mac", mac_text(mac, form)]]},
            },
            frozenset({f"mac:{m}"}),
            {"mac": m},
        ),
    ]


@st.composite
def shelly_device(draw: st.DrawFn) -> list[Message]:
    name, mac, form, levels = draw(NAMES), draw(MACS), draw(MAC_FORMS), draw(st.integers(1, 3))
    device_id = f"shellyplus1-{mac_text(mac, 'bare_lower')}"
    prefix = "/".join([name] * (levels - 1) + [device_id])
    m = mac_text(mac, "colon")
    return [
        Message(f"{prefix}/online", "true", frozenset({f"prefix:{prefix}"}), {"available": True}),
        Message(
            f"{prefix}/events/rpc",
            {
                "src": device_id,
                "method": "NotifyFullStatus",
                "params": {
                    "sys": {"mac": mac_text(mac, "bare_upper"), "uptime": 321, "reset_reason": 3},
                    "wifi": {"sta_ip": "10.0.0.9", "rssi": -55},
                },
            },
            frozenset({f"prefix:{prefix}", f"mac:{m}", f"id:{device_id}"}),
            {"uptime_s": 321.0, "rssi_dbm": -55.0, "mac": m, "restart_reason": "software restart"},
        ),
        Message(
            f"homeassistant/switch/{device_id}/relay/config",
            {
                "name": None,
                "cmd_t": f"{prefix}/rpc",
                "uniq_id": f"{device_id}-relay",
                "dev": {
                    "ids": [device_id],
                    "cns": [["mac", mac_text(mac, form)]],
                    "mf": "Shelly",
                    "mdl": "SNSW-001X16EU",
                },
            },
            frozenset({f"mac:{m}"}),
            {"mac": m, "model": "SNSW-001X16EU"},
        ),
    ]


@st.composite
def zigbee_device(draw: st.DrawFn) -> list[Message]:
    friendly = draw(NAMES)
    ieee = "0x" + draw(st.binary(min_size=8, max_size=8)).hex()
    return [
        Message(
            "zigbee2mqtt/bridge/devices",
            [
                {
                    "ieee_address": ieee,
                    "type": "EndDevice",
                    "friendly_name": friendly,
                    "definition": {"model": "WSDCGQ11LM", "vendor": "Aqara"},
                }
            ],
            frozenset({f"ieee:{ieee}", f"name:{friendly}"}),
            {"model": "WSDCGQ11LM", "manufacturer": "Aqara"},
        ),
        Message(
            f"zigbee2mqtt/{friendly}/availability",
            {"state": "online"},
            frozenset({f"name:{friendly}"}),
            {"available": True},
        ),
        Message(
            f"zigbee2mqtt/{friendly}",
            {"temperature": 21.5, "linkquality": 87},
            frozenset({f"name:{friendly}"}),
            {"link_quality": 87},
        ),
        Message(
            f"homeassistant/sensor/{ieee}/temperature/config",
            {
                "state_topic": f"zigbee2mqtt/{friendly}",
                "unique_id": f"{ieee}_temperature_zigbee2mqtt",
                "device": {
                    "identifiers": [f"zigbee2mqtt_{ieee}"],
                    "name": friendly,
                    "manufacturer": "Aqara",
                    "model": "Temperature and humidity sensor",
                    "model_id": "WSDCGQ11LM",
                },
            },
            frozenset({f"ieee:{ieee}"}),
            {"model": "WSDCGQ11LM", "manufacturer": "Aqara"},
        ),
        Message(
            "zigbee2mqtt/bridge/event",
            {"type": "device_announce", "data": {"friendly_name": friendly, "ieee_address": ieee}},
            frozenset({f"ieee:{ieee}", f"name:{friendly}"}),
            {},
        ),
    ]


def connected(messages: list[Message]) -> bool:
    """Whether identifiers link every message to every other (directly or through others)."""
    reached, links = {0}, set(messages[0].links)
    grew = True
    while grew:
        grew = False
        for index, message in enumerate(messages):
            if index not in reached and message.links & links:
                reached.add(index)
                links |= message.links
                grew = True
    return len(reached) == len(messages)


@st.composite
def announcements(draw: st.DrawFn) -> list[Message]:
    messages = draw(st.one_of(esphome_device(), tasmota_device(), shelly_device(), zigbee_device()))
    # Repeats allowed: devices re-announce (retained messages again after a reconnect).
    picked = draw(
        st.lists(st.integers(0, len(messages) - 1), min_size=1, max_size=len(messages) + 2).filter(
            lambda indexes: connected([messages[i] for i in dict.fromkeys(indexes)])
        )
    )
    return [messages[i] for i in draw(st.permutations(picked))]


def _check(device: Device, facts: dict[str, Any]) -> None:
    for name, value in facts.items():
        if name == "mac":
            assert normalise_mac(value) in device.macs
        else:
            assert getattr(device, name) == value, (name, getattr(device, name), value)


@settings(max_examples=300, deadline=None)
@given(messages=announcements())
def test_one_device_whatever_it_is_announced_through(tmp_path_factory, messages: list[Message]) -> None:  # type: ignore[no-untyped-def]
    config = agent_config(tmp_path_factory.mktemp("p"), broker={"url": "mqtt://127.0.0.1:1"})
    store = InventoryStore(None)
    discovery = MqttDiscovery(config, MemorySink(), store, Clock())
    for index, message in enumerate(messages):
        discovery.handle(message.topic, _bytes(message.payload), AT + timedelta(seconds=index))
    assert discovery.malformed == {}
    [device] = store.snapshot().devices
    facts: dict[str, Any] = {}
    for message in messages:
        facts |= message.facts
    _check(device, facts)
