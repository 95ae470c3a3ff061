"""Pure parts of the lab: simulator payloads, SSDP messages, the DNS probe's packets, the CLI's argument checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from agent.monitors.dns import dns_query_packet, parse_a_records
from lab.simulators.__main__ import parse_broker
from lab.simulators.families import FAMILIES, Snapshot, rssi_quality, tasmota_duration
from lab.ssdp import notify, parse_headers, search_response


def snapshot(**changes: object) -> Snapshot:
    base = dict(
        name="plug",
        ip="10.20.0.10",
        boot_count=3,
        restart_reason="Exception",
        uptime_s=93784.5,
        link_count=2,
        downtime_s=21.0,
        mqtt_count=2,
        rssi_dbm=-62,
        now=datetime(2026, 11, 24, 3, 0, tzinfo=UTC),
    )
    base.update(changes)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_tasmota_durations_and_quality() -> None:
    assert tasmota_duration(93784.5) == "1T02:03:04"
    assert tasmota_duration(0) == "0T00:00:00"
    assert rssi_quality(-62) == 76 and rssi_quality(-20) == 100 and rssi_quality(-120) == 0


def test_tasmota_boot_messages_and_state() -> None:
    tasmota = FAMILIES["tasmota"]
    s = snapshot()
    will = tasmota.will(s)
    assert will is not None and will.topic == "tele/plug/LWT" and will.payload == "Offline"
    first = {m.topic: m for m in tasmota.on_connect(s, first_since_boot=True)}
    assert first["tele/plug/LWT"].payload == "Online" and first["tele/plug/LWT"].retain
    assert json.loads(first["tele/plug/INFO3"].payload)["Info3"]["RestartReason"] == "Exception"
    discovery = json.loads(first[f"tasmota/discovery/{s.mac}/config"].payload)
    assert discovery["mac"] == s.mac and len(s.mac) == 12 and discovery["t"] == "plug"
    assert "tele/plug/INFO3" not in {m.topic for m in tasmota.on_connect(s, first_since_boot=False)}
    state = json.loads(tasmota.report(s)[0].payload)
    assert state["UptimeSec"] == 93784 and state["Uptime"] == "1T02:03:04"
    assert state["Wifi"]["LinkCount"] == 2 and state["Wifi"]["RSSI"] == 76
    assert state["Wifi"]["Downtime"] == "0T00:00:21" and state["Wifi"]["Signal"] == -62


def test_shelly_z2m_esphome_shapes() -> None:
    s = snapshot(name="shellyplus1pm-a8032abcf5f0", restart_reason="4")
    shelly = FAMILIES["shelly"]
    will = shelly.will(s)
    assert will is not None and will.payload == "false"
    frames = [json.loads(m.payload) for m in shelly.on_connect(s, True) if m.topic.endswith("/events/rpc")]
    assert frames[0]["method"] == "NotifyFullStatus" and frames[0]["params"]["sys"]["reset_reason"] == 4
    status = json.loads(shelly.report(s)[0].payload)
    assert status["method"] == "NotifyStatus" and status["params"]["sys"]["uptime"] == 93784

    z2m = FAMILIES["zigbee2mqtt"]
    s = snapshot(name="zigbee2mqtt")
    will = z2m.will(s)
    assert will is not None and json.loads(will.payload) == {"state": "offline"}
    topics = {m.topic: m for m in z2m.on_connect(s, True)}
    devices = json.loads(topics["zigbee2mqtt/bridge/devices"].payload)
    assert devices[0]["type"] == "Coordinator" and {d["interview_state"] for d in devices} == {"SUCCESSFUL"}
    assert json.loads(topics["zigbee2mqtt/bridge/health"].payload)["process"]["uptime_sec"] == 93784
    assert 0 <= json.loads(topics["zigbee2mqtt/living_room_curtain"].payload)["linkquality"] <= 255

    esphome = FAMILIES["esphome"]
    s = snapshot(name="node", restart_reason="Power On Reset")
    messages = esphome.on_connect(s, True)
    config = json.loads(next(m.payload for m in messages if m.topic == "homeassistant/sensor/node/uptime/config"))
    assert config["dev"]["sw"].startswith("2024.12.4 (") and config["dev"]["mf"] == "Espressif"
    assert any(m.topic == "node/debug" and "Power On Reset" in m.payload for m in messages)
    (service,) = esphome.services(s)
    assert service.type_ == "_esphomelib._tcp.local." and service.properties["mac"] == s.mac.lower()


def test_mdns_only_families_count_boots() -> None:
    (sonos,) = FAMILIES["sonos"].services(snapshot(boot_count=9))
    assert sonos.properties["bootseq"] == "9" and not FAMILIES["sonos"].uses_mqtt
    (hap,) = FAMILIES["homekit"].services(snapshot())
    assert hap.type_ == "_hap._tcp.local." and hap.properties["id"].count(":") == 5


def test_ssdp_messages_round_trip() -> None:
    start, headers = parse_headers(notify("uuid-1", "upnp:rootdevice", "10.20.0.1", 7))
    assert start == "NOTIFY * HTTP/1.1" and headers["BOOTID.UPNP.ORG"] == "7"
    assert headers["NTS"] == "ssdp:alive" and headers["USN"] == "uuid:uuid-1::upnp:rootdevice"
    start, headers = parse_headers(search_response("uuid-1", "upnp:rootdevice", "10.20.0.1", 8))
    assert start == "HTTP/1.1 200 OK" and headers["BOOTID.UPNP.ORG"] == "8"


def test_dns_probe_packets() -> None:
    query = dns_query_packet("internet.lab", 0x1234)
    answer = (
        query[:2]
        + b"\x81\x80"
        + b"\x00\x01\x00\x01\x00\x00\x00\x00"
        + query[12:]
        + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04"
        + bytes([198, 51, 100, 10])
    )
    assert parse_a_records(answer) == ["198.51.100.10"]


def test_simulator_broker_argument() -> None:
    assert parse_broker("10.20.0.2:1883") == ("10.20.0.2", 1883)
    with pytest.raises(Exception, match="HOST:PORT"):
        parse_broker("10.20.0.2")
