"""Tasmota: discovery config, LWT, STATE telemetry, the INFO1–3 messages sent after boot and STATUS answers.

The subscriptions cover Tasmota's default FullTopic ``%prefix%/%topic%/``, which also finds devices that publish
no discovery config at all (by their LWT and STATE). A device with another FullTopic says so in its discovery
config (``ft``, ``t``, ``tp``): ``full_topic_aliases`` computes where its tele and stat messages go, and the MQTT
layer follows those topics and reads them as if they had the default layout.

Older firmware is read as well: INFO1–3 without their ``Info1``… wrapper (before 9.x), STATE without
``UptimeSec`` (only ``Uptime``, ``1T02:03:04`` or ``1 02:03:04``), and a ``STATUS 0`` answer as one message.
"""

from __future__ import annotations

import re
from typing import Any

from ..inventory import DeviceUpdate
from .payload import as_dict, as_float, as_int, as_str, availability, json_object, text

SOURCE = "tasmota"
FAMILY = "tasmota"
DEFAULT_FULL_TOPIC = "%prefix%/%topic%/"
DEFAULT_PREFIXES = ("cmnd", "stat", "tele")
TELEMETRY = ("LWT", "STATE", "INFO1", "INFO2", "INFO3")
UPTIME = re.compile(r"^(\d+)[T ](\d{1,2}):(\d{2}):(\d{2})$")  # days, then h:m:s ("1T02:03:04"; before 6.x "1 02:03:04")
STATUS_TOPIC = re.compile(r"^STATUS\d*$")
# Tasmota's own names for its discovery, STATE and INFO3 restart reasons are words already.


def subscriptions(discovery_prefix: str) -> list[str]:
    return [f"{discovery_prefix}/+/config", *(f"tele/+/{kind}" for kind in TELEMETRY), "stat/+/+"]


def _key(topic_name: str) -> str:
    return f"tasmota:{topic_name}"


def full_topic_aliases(config: dict[str, Any], name: str) -> dict[str, str]:
    """For a custom FullTopic, where the device's tele/stat messages go → the default-layout prefix they mean
    (``tasmota_49A3BC/tele/`` → ``tele/tasmota_49A3BC/``); empty for the default layout."""
    full_topic = as_str(config.get("ft"))
    raw_prefixes = config.get("tp")
    prefixes = (
        raw_prefixes
        if isinstance(raw_prefixes, list) and len(raw_prefixes) == 3 and all(as_str(p) for p in raw_prefixes)
        else list(DEFAULT_PREFIXES)
    )
    if full_topic is None or (full_topic == DEFAULT_FULL_TOPIC and prefixes == list(DEFAULT_PREFIXES)):
        return {}
    mac = as_str(config.get("mac")) or ""
    aliases = {}
    for index in (1, 2):  # stat, tele
        topic = (
            full_topic.replace("%prefix%", str(prefixes[index]))
            .replace("%topic%", name)
            .replace("%hostname%", as_str(config.get("hn")) or "")
            .replace("%id%", mac[-6:].upper())
        )
        topic = topic if topic.endswith("/") else topic + "/"
        if not any(c in topic for c in "%+#") and "//" not in topic:
            aliases[topic] = f"{DEFAULT_PREFIXES[index]}/{name}/"
    return aliases


def lwt_topic(config: dict[str, Any], name: str) -> str | None:
    """Where a device with a custom FullTopic publishes its LWT; None for the default layout."""
    tele = next(
        (alias for alias, canonical in full_topic_aliases(config, name).items() if canonical.startswith("tele/")), None
    )
    return None if tele is None else tele + "LWT"


def uptime_seconds(data: dict[str, Any]) -> float | None:
    seconds = as_float(data.get("UptimeSec"))
    if seconds is not None:
        return seconds
    found = UPTIME.match(as_str(data.get("Uptime")) or "")
    if found is None:
        return None
    days, hours, minutes, secs = (int(x) for x in found.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + secs)


def parse(topic: str, payload: bytes, discovery_prefix: str = "tasmota/discovery") -> list[DeviceUpdate]:
    parts = topic.split("/")
    if topic.startswith(discovery_prefix + "/") and topic.endswith("/config"):
        return _discovery_config(payload)
    if len(parts) != 3 or parts[0] not in ("tele", "stat"):
        return []
    name, kind = parts[1], parts[2]
    if parts[0] == "tele" and kind == "LWT":
        online = availability(payload, "Online", "Offline")
        return (
            []
            if online is None
            else [
                DeviceUpdate(
                    keys=(_key(name),),
                    source=f"{SOURCE}.lwt",
                    family=FAMILY,
                    available=online,
                    message=text(payload, 64),
                )
            ]
        )
    if kind == "STATE":
        return [_state(name, json_object(payload), text(payload))]
    if parts[0] == "stat" and STATUS_TOPIC.match(kind):
        return _status(name, json_object(payload), text(payload))
    if parts[0] != "tele" or kind not in TELEMETRY:
        return []
    data = json_object(payload)
    info = as_dict(data.get(kind.capitalize())) or data  # before 9.x the fields were not wrapped
    if kind == "INFO1":
        version = as_str(info.get("Version"))
        return [
            DeviceUpdate(
                keys=(_key(name),),
                source=SOURCE,
                family=FAMILY,
                model=as_str(info.get("Module")),
                firmware=version.split("(")[0] if version else None,
            )
        ]
    if kind == "INFO2":
        return [
            DeviceUpdate(
                keys=(_key(name),),
                source=SOURCE,
                family=FAMILY,
                ips=tuple(filter(None, [as_str(info.get("IPAddress"))])),
                attributes={"hostname": info["Hostname"]} if as_str(info.get("Hostname")) else {},
            )
        ]
    # INFO3 is published once, after a boot, with the reason for it.
    return [
        DeviceUpdate(
            keys=(_key(name),),
            source=SOURCE,
            family=FAMILY,
            restart_reason=as_str(info.get("RestartReason")),
            boot_seq=as_int(info.get("BootCount")),
            boot_announced=True,
            message=text(payload)[:300],
        )
    ]


def _discovery_config(payload: bytes) -> list[DeviceUpdate]:
    config = json_object(payload)
    name = as_str(config.get("t"))
    if name is None:
        return []
    attributes: dict[str, Any] = {"hostname": config["hn"]} if as_str(config.get("hn")) else {}
    aliases = full_topic_aliases(config, name)
    if aliases:
        attributes["topic_aliases"] = aliases
        lwt = lwt_topic(config, name)
        if lwt is not None:
            attributes["availability"] = [
                {
                    "topic": lwt,
                    "online": as_str(config.get("onln")) or "Online",
                    "offline": as_str(config.get("ofln")) or "Offline",
                }
            ]
    return [
        DeviceUpdate(
            keys=(_key(name),),
            source=SOURCE,
            family=FAMILY,
            name=as_str(config.get("dn")) or name,
            model=as_str(config.get("md")),
            firmware=as_str(config.get("sw")),
            manufacturer="Tasmota",
            macs=tuple(filter(None, [as_str(config.get("mac"))])),
            ips=tuple(filter(None, [as_str(config.get("ip"))])),
            attributes=attributes,
        )
    ]


def _state(name: str, data: dict[str, Any], raw: str) -> DeviceUpdate:
    wifi = as_dict(data.get("Wifi"))
    return DeviceUpdate(
        keys=(_key(name),),
        source=SOURCE,
        family=FAMILY,
        uptime_s=uptime_seconds(data),
        rssi_dbm=as_float(wifi.get("Signal")),
        link_count=as_int(wifi.get("LinkCount")),
        attributes={"wifi_downtime": wifi["Downtime"]} if as_str(wifi.get("Downtime")) else {},
        message=raw[:300],
    )


def _status(name: str, data: dict[str, Any], raw: str) -> list[DeviceUpdate]:
    """A ``STATUS n`` answer (``stat/<topic>/STATUS0``…``STATUS11``, or ``STATUS`` for older firmware): whatever
    sections it carries — ``StatusPRM`` (uptime, boot count, restart reason), ``StatusFWR`` (version),
    ``StatusNET`` (hostname, address, MAC), ``StatusSTS`` (the STATE telemetry)."""
    status, parameters, firmware = (
        as_dict(data.get("Status")),
        as_dict(data.get("StatusPRM")),
        as_dict(data.get("StatusFWR")),
    )
    network, sts = as_dict(data.get("StatusNET")), as_dict(data.get("StatusSTS"))
    if not any(key.startswith("Status") and isinstance(value, dict) for key, value in data.items()):
        return []  # every answer is one or more Status… sections; anything else is not a status answer
    state = _state(name, sts, raw) if sts else None
    friendly = status.get("FriendlyName")  # a list since 6.x, one string before
    version = as_str(firmware.get("Version"))
    hostname = as_str(network.get("Hostname"))
    return [
        DeviceUpdate(
            keys=(_key(name),),
            source=SOURCE,
            family=FAMILY,
            name=as_str(status.get("DeviceName"))
            or as_str(friendly[0] if isinstance(friendly, list) and friendly else friendly),
            firmware=version.split("(")[0] if version else None,
            macs=tuple(filter(None, [as_str(network.get("Mac"))])),
            ips=tuple(filter(None, [as_str(network.get("IPAddress"))])),
            uptime_s=state.uptime_s if state else uptime_seconds(parameters),
            rssi_dbm=state.rssi_dbm if state else None,
            link_count=state.link_count if state else None,
            restart_reason=as_str(parameters.get("RestartReason")),
            boot_seq=as_int(parameters.get("BootCount")),
            attributes={"hostname": hostname} if hostname else {},
            message=raw[:300],
        )
    ]
