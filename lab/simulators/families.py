"""What each device family says, as pure functions of a :class:`Snapshot`: MQTT messages and mDNS services.

Payload shapes follow /work/shared/protocols.md (Tasmota, Shelly Gen2, Zigbee2MQTT 2.x, ESPHome, Sonos/HomeKit
mDNS). No sockets here: :mod:`lab.simulators.runner` sends what these return.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool = False


@dataclass(frozen=True)
class Service:
    """One mDNS service the device registers (``type_`` like ``_esphomelib._tcp.local.``)."""

    type_: str
    instance: str
    port: int
    properties: dict[str, str]


@dataclass(frozen=True)
class Snapshot:
    """The device's state when a message is built. ``uptime_s`` restarts at 0 only when the device reboots."""

    name: str
    ip: str
    boot_count: int
    restart_reason: str
    uptime_s: float
    link_count: int
    downtime_s: float
    mqtt_count: int
    rssi_dbm: int
    now: datetime
    zigbee_devices: int = 3  # a Zigbee2MQTT bridge's devices

    @property
    def mac(self) -> str:
        """12 upper-case hex digits, stable per name (locally administered)."""
        digest = hashlib.sha256(self.name.encode()).hexdigest()[:10].upper()
        return "02" + digest

    @property
    def mac_colons(self) -> str:
        return ":".join(self.mac[i : i + 2] for i in range(0, 12, 2)).lower()


def tasmota_duration(seconds: float) -> str:
    """Tasmota's ``1T02:03:04`` (days T hh:mm:ss)."""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}T{hours:02d}:{minutes:02d}:{secs:02d}"


def rssi_quality(dbm: int) -> int:
    """Tasmota's RSSI quality 0–100 from dBm (its WifiGetRssiAsQuality)."""
    return max(0, min(100, 2 * (dbm + 100)))


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


class Family:
    """A device family. ``reconnect_delay`` is its firmware's MQTT retry pace (seconds, the lab's default)."""

    name: ClassVar[str]
    reconnect_delay: ClassVar[float]
    power_on_reason: ClassVar[str]
    crash_reason: ClassVar[str]
    uses_mqtt: ClassVar[bool] = True

    def will(self, s: Snapshot) -> Message | None:
        return None

    def on_connect(self, s: Snapshot, first_since_boot: bool) -> list[Message]:
        """Sent after every MQTT connect; ``first_since_boot`` after the first one since the device booted."""
        return []

    def report(self, s: Snapshot) -> list[Message]:
        """Sent every report interval while connected."""
        return []

    def services(self, s: Snapshot) -> list[Service]:
        return []


class Tasmota(Family):
    name = "tasmota"
    reconnect_delay = 10.0  # MqttRetry default 10 s
    power_on_reason = "Power On"
    crash_reason = "Exception"
    version = "14.4.1(release-tasmota)"

    def topic(self, s: Snapshot) -> str:
        return s.name

    def will(self, s: Snapshot) -> Message:
        return Message(f"tele/{self.topic(s)}/LWT", "Offline", retain=True)

    def on_connect(self, s: Snapshot, first_since_boot: bool) -> list[Message]:
        t = self.topic(s)
        messages = [Message(f"tele/{t}/LWT", "Online", retain=True)]
        if first_since_boot:
            messages += [
                Message(
                    f"tele/{t}/INFO1",
                    _json(
                        {
                            "Info1": {
                                "Module": "Sonoff Basic",
                                "Version": self.version,
                                "FallbackTopic": f"cmnd/DVES_{s.mac[-6:]}_fb/",
                                "GroupTopic": "cmnd/tasmotas/",
                            }
                        }
                    ),
                ),
                Message(
                    f"tele/{t}/INFO2",
                    _json({"Info2": {"WebServerMode": "Admin", "Hostname": f"{t}-{s.mac[-4:]}", "IPAddress": s.ip}}),
                ),
                Message(
                    f"tele/{t}/INFO3", _json({"Info3": {"RestartReason": s.restart_reason, "BootCount": s.boot_count}})
                ),
            ]
        messages += [
            Message(f"tasmota/discovery/{s.mac}/config", _json(self.discovery(s)), retain=True),
            Message(
                f"tasmota/discovery/{s.mac}/sensors", _json({"sn": {"Time": self._time(s)}, "ver": 1}), retain=True
            ),
        ]
        return messages + self.report(s)

    def discovery(self, s: Snapshot) -> dict[str, Any]:
        t = self.topic(s)
        return {
            "ip": s.ip,
            "dn": t,
            "fn": [t, None, None, None, None, None, None, None],
            "hn": f"{t}-{s.mac[-4:]}",
            "mac": s.mac,
            "md": "Sonoff Basic",
            "ty": 0,
            "if": 0,
            "ofln": "Offline",
            "onln": "Online",
            "state": ["OFF", "ON", "TOGGLE", "HOLD"],
            "sw": self.version.split("(")[0],
            "t": t,
            "ft": "%prefix%/%topic%/",
            "tp": ["cmnd", "stat", "tele"],
            "rl": [1, 0, 0, 0, 0, 0, 0, 0],
            "swc": [-1] * 8,
            "swn": [None] * 8,
            "btn": [0, 0, 0, 0, 0, 0, 0, 0],
            "so": {"4": 0, "11": 0},
            "lk": 0,
            "lt_st": 0,
            "bat": 0,
            "dslp": 0,
            "sho": [],
            "sht": [],
            "ver": 1,
        }

    def _time(self, s: Snapshot) -> str:
        return s.now.replace(tzinfo=None, microsecond=0).isoformat()

    def report(self, s: Snapshot) -> list[Message]:
        state = {
            "Time": self._time(s),
            "Uptime": tasmota_duration(s.uptime_s),
            "UptimeSec": int(s.uptime_s),
            "Heap": 25,
            "SleepMode": "Dynamic",
            "Sleep": 50,
            "LoadAvg": 19,
            "MqttCount": s.mqtt_count,
            "POWER": "ON",
            "Wifi": {
                "AP": 1,
                "SSId": "homediag-lab",
                "BSSId": "02:00:00:00:00:01",
                "Channel": 6,
                "Mode": "11n",
                "RSSI": rssi_quality(s.rssi_dbm),
                "Signal": s.rssi_dbm,
                "LinkCount": s.link_count,
                "Downtime": tasmota_duration(s.downtime_s),
            },
        }
        return [Message(f"tele/{self.topic(s)}/STATE", _json(state))]


class Shelly(Family):
    """Shelly Gen2 (Plus 1PM). ``reset_reason`` is the ESP-IDF reset reason number."""

    name = "shelly"
    reconnect_delay = 5.0
    power_on_reason = "1"  # ESP_RST_POWERON
    crash_reason = "4"  # ESP_RST_PANIC
    version = "1.4.4"

    def device_id(self, s: Snapshot) -> str:
        return f"shellyplus1pm-{s.mac.lower()}"

    def will(self, s: Snapshot) -> Message:
        return Message(f"{s.name}/online", "false", retain=True)

    def _sys(self, s: Snapshot) -> dict[str, Any]:
        return {
            "mac": s.mac,
            "restart_required": False,
            "time": s.now.strftime("%H:%M"),
            "unixtime": int(s.now.timestamp()),
            "uptime": int(s.uptime_s),
            "ram_size": 246680,
            "ram_free": 141000,
            "fs_size": 458752,
            "fs_free": 135168,
            "cfg_rev": 10,
            "kvs_rev": 0,
            "available_updates": {},
            "reset_reason": int(s.restart_reason) if s.restart_reason.isdigit() else 0,
        }

    def _wifi(self, s: Snapshot) -> dict[str, Any]:
        return {"sta_ip": s.ip, "status": "got ip", "ssid": "homediag-lab", "rssi": s.rssi_dbm}

    def _rpc(self, s: Snapshot, method: str, params: dict[str, Any]) -> Message:
        frame = {
            "src": self.device_id(s),
            "dst": f"{s.name}/events",
            "method": method,
            "params": {"ts": round(s.now.timestamp(), 2), **params},
        }
        return Message(f"{s.name}/events/rpc", _json(frame))

    def on_connect(self, s: Snapshot, first_since_boot: bool) -> list[Message]:
        full = {
            "sys": self._sys(s),
            "wifi": self._wifi(s),
            "mqtt": {"connected": True},
            "cloud": {"connected": False},
            "switch:0": {"id": 0, "source": "init", "output": False, "apower": 0.0, "voltage": 230.1},
        }
        return [Message(f"{s.name}/online", "true", retain=True), self._rpc(s, "NotifyFullStatus", full)]

    def report(self, s: Snapshot) -> list[Message]:
        return [self._rpc(s, "NotifyStatus", {"sys": {"uptime": int(s.uptime_s)}, "wifi": {"rssi": s.rssi_dbm}})]

    def services(self, s: Snapshot) -> list[Service]:
        props = {"gen": "2", "app": "Plus1PM", "ver": self.version, "id": self.device_id(s), "arch": "esp8266"}
        return [
            Service("_shelly._tcp.local.", self.device_id(s), 80, props),
            Service("_http._tcp.local.", self.device_id(s), 80, {}),
        ]


class Zigbee2MQTT(Family):
    """A Zigbee2MQTT 2.x bridge (base topic = ``--name``, usually ``zigbee2mqtt``) with three Zigbee devices."""

    name = "zigbee2mqtt"
    reconnect_delay = 2.0
    power_on_reason = "start"
    crash_reason = "crash"
    version = "2.1.3"
    kinds = (
        ("living_room_curtain", "Router", "Mains (single phase)", "ZNCLDJ11LM"),
        ("hall_motion", "EndDevice", "Battery", "RTCGQ11LM"),
        ("kitchen_plug", "Router", "Mains (single phase)", "ZNCZ02LM"),
    )

    def children(self, s: Snapshot) -> list[tuple[str, str, str, str, str]]:
        """(friendly name, IEEE address, type, power source, model) of each Zigbee device: the three kinds in turn,
        the first of each under its plain name. IEEE: Aqara's OUI, then the bridge's MAC and the index, so every
        simulated bridge has devices of its own."""
        found = []
        for index in range(s.zigbee_devices):
            friendly, kind, power, model = self.kinds[index % len(self.kinds)]
            name = friendly if index < len(self.kinds) else f"{friendly}_{index // len(self.kinds) + 1}"
            found.append((name, f"0x00158d00{s.mac[-6:].lower()}{index:02x}", kind, power, model))
        return found

    def will(self, s: Snapshot) -> Message:
        return Message(f"{s.name}/bridge/state", _json({"state": "offline"}), retain=True)

    def on_connect(self, s: Snapshot, first_since_boot: bool) -> list[Message]:
        base = s.name
        coordinator = f"0x00124b00{s.mac[-8:].lower()}"
        devices: list[dict[str, Any]] = [
            {
                "ieee_address": coordinator,
                "type": "Coordinator",
                "network_address": 0,
                "friendly_name": "Coordinator",
                "supported": True,
                "disabled": False,
                "definition": None,
                "interview_state": "SUCCESSFUL",
            }
        ]
        for index, (friendly, ieee, kind, power, model) in enumerate(self.children(s)):
            devices.append(
                {
                    "ieee_address": ieee,
                    "type": kind,
                    "network_address": 0x1000 + index,
                    "friendly_name": friendly,
                    "supported": True,
                    "disabled": False,
                    "definition": {"model": model, "vendor": "Aqara", "description": friendly.replace("_", " ")},
                    "power_source": power,
                    "software_build_id": "0.0.0_0025",
                    "date_code": "20191205",
                    "model_id": f"lumi.{model.lower()}",
                    "manufacturer": "LUMI",
                    "interview_state": "SUCCESSFUL",
                }
            )
        info = {
            "version": self.version,
            "commit": "3f3b5a3",
            "coordinator": {"ieee_address": coordinator, "type": "zStack3x0", "meta": {}},
            "network": {"pan_id": 6754, "channel": 15, "extended_pan_id": "0xdddddddddddddddd"},
            "log_level": "info",
            "permit_join": False,
            "restart_required": False,
            "config": {"availability": {"enabled": True}, "mqtt": {"base_topic": base}},
        }
        messages = [
            Message(f"{base}/bridge/state", _json({"state": "online"}), retain=True),
            Message(f"{base}/bridge/info", _json(info), retain=True),
            Message(f"{base}/bridge/devices", _json(devices), retain=True),
        ]
        if first_since_boot:
            messages.append(
                Message(
                    f"{base}/bridge/logging",
                    _json(
                        {
                            "level": "info",
                            "message": f"Starting Zigbee2MQTT version {self.version} (commit #3f3b5a3)",
                            "namespace": "z2m",
                        }
                    ),
                )
            )
        for friendly, *_ in self.children(s):
            messages.append(Message(f"{base}/{friendly}/availability", _json({"state": "online"}), retain=True))
        return messages + self.report(s)

    def report(self, s: Snapshot) -> list[Message]:
        base = s.name
        per_device = {
            ieee: {
                "messages": int(s.uptime_s // 10) + 1,
                "messages_per_sec": 0.1,
                "leave_count": 0,
                "network_address_changes": 0,
            }
            for _, ieee, *_ in self.children(s)
        }
        health = {
            "response_time": int(s.now.timestamp() * 1000),
            "os": {"load_average": [0.1, 0.1, 0.1], "memory_percent": 40.0},
            "process": {"uptime_sec": int(s.uptime_s), "memory_used_mb": 80.5, "memory_percent": 2.0},
            "mqtt": {"connected": True, "queued": 0, "received": 0, "published": s.mqtt_count},
            "devices": per_device,
        }
        messages = [Message(f"{base}/bridge/health", _json(health), retain=True)]
        for index, (friendly, *_rest) in enumerate(self.children(s)):
            lqi = max(0, min(255, 120 + s.rssi_dbm + 60 - 10 * index))
            messages.append(Message(f"{base}/{friendly}", _json({"linkquality": lqi, "last_seen": s.now.isoformat()})))
        return messages


class ESPHome(Family):
    name = "esphome"
    reconnect_delay = 1.0
    power_on_reason = "Power On Reset"
    crash_reason = "Software Reset CPU"
    version = "2024.12.4"

    def will(self, s: Snapshot) -> Message:
        return Message(f"{s.name}/status", "offline", retain=True)

    def on_connect(self, s: Snapshot, first_since_boot: bool) -> list[Message]:
        node = s.name
        device = {
            "ids": s.mac.lower(),
            "name": node,
            "sw": f"{self.version} (Dec 20 2024, 10:00:00)",
            "mf": "Espressif",
            "mdl": "esp32dev",
            "cns": [["mac", s.mac_colons]],
        }
        messages = [Message(f"{node}/status", "online", retain=True)]
        for sensor, unit in (("uptime", "s"), ("wifi_signal", "dBm")):
            config = {
                "name": sensor.replace("_", " "),
                "stat_t": f"{node}/sensor/{sensor}/state",
                "avty_t": f"{node}/status",
                "uniq_id": f"{s.mac.lower()}_{sensor}",
                "unit_of_meas": unit,
                "dev": device,
            }
            messages.append(Message(f"homeassistant/sensor/{node}/{sensor}/config", _json(config), retain=True))
        if first_since_boot:
            messages += [
                Message(
                    f"{node}/debug", f"[I][app:100]: ESPHome version {self.version} compiled on Dec 20 2024, 10:00:00"
                ),
                Message(f"{node}/debug", f"[D][debug:040]: Reset Reason: {s.restart_reason}"),
            ]
        return messages + self.report(s)

    def report(self, s: Snapshot) -> list[Message]:
        node = s.name
        return [
            Message(f"{node}/sensor/uptime/state", str(int(s.uptime_s))),
            Message(f"{node}/sensor/wifi_signal/state", str(s.rssi_dbm)),
        ]

    def services(self, s: Snapshot) -> list[Service]:
        props = {
            "friendly_name": s.name,
            "version": self.version,
            "mac": s.mac.lower(),
            "platform": "ESP32",
            "board": "esp32dev",
            "network": "wifi",
        }
        return [Service("_esphomelib._tcp.local.", s.name, 6053, props)]


class MdnsOnly(Family):
    """A device that only speaks mDNS: no broker, no MQTT reconnects."""

    reconnect_delay = 0.0
    power_on_reason = "power"
    crash_reason = "crash"
    uses_mqtt = False


class Sonos(MdnsOnly):
    """``bootseq`` rises with every boot (a reboot signal without MQTT)."""

    name = "sonos"

    def services(self, s: Snapshot) -> list[Service]:
        props = {
            "info": f"/api/v1/players/RINCON_{s.mac}01400/info",
            "vers": "3",
            "protovers": "1.45.0",
            "bootseq": str(s.boot_count),
            "hhid": "Sonos_homediaglab",
            "mhhid": "Sonos_homediaglab.1",
            "locationid": "lc_homediaglab",
            "sslport": "1443",
            "model": "S27",
        }
        return [Service("_sonos._tcp.local.", f"Sonos-{s.mac}", 1443, props)]


class HomeKit(MdnsOnly):
    """A HomeKit accessory (``_hap._tcp``)."""

    name = "homekit"

    def services(self, s: Snapshot) -> list[Service]:
        props = {
            "c#": "2",
            "ff": "0",
            "id": s.mac_colons.upper(),
            "md": "Eve Energy",
            "pv": "1.1",
            "s#": "1",
            "sf": "0",
            "ci": "7",
        }
        return [Service("_hap._tcp.local.", s.name, 8080, props)]


FAMILIES: dict[str, Family] = {f.name: f for f in (Tasmota(), Shelly(), Zigbee2MQTT(), ESPHome(), Sonos(), HomeKit())}
CRASH_REASON = {name: family.crash_reason for name, family in FAMILIES.items()}
POWER_ON_REASON = {name: family.power_on_reason for name, family in FAMILIES.items()}
