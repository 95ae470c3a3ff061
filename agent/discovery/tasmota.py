"""Tasmota: discovery config, LWT, STATE telemetry and the INFO1–3 messages sent after boot."""

from __future__ import annotations

from ..inventory import DeviceUpdate
from .payload import as_dict, as_float, as_int, as_str, availability, json_object, text

SOURCE = "tasmota"
FAMILY = "tasmota"


def subscriptions(discovery_prefix: str) -> list[str]:
    return [f"{discovery_prefix}/+/config", "tele/+/LWT", "tele/+/STATE", "tele/+/INFO1", "tele/+/INFO2", "tele/+/INFO3"]


def _key(topic_name: str) -> str:
    return f"tasmota:{topic_name}"


def parse(topic: str, payload: bytes, discovery_prefix: str = "tasmota/discovery") -> list[DeviceUpdate]:
    parts = topic.split("/")
    if topic.startswith(discovery_prefix + "/") and topic.endswith("/config"):
        config = json_object(payload)
        name = as_str(config.get("t"))
        if name is None:
            return []
        return [DeviceUpdate(
            keys=(_key(name),), source=SOURCE, family=FAMILY, name=as_str(config.get("dn")) or name,
            model=as_str(config.get("md")), firmware=as_str(config.get("sw")), manufacturer="Tasmota",
            macs=tuple(filter(None, [as_str(config.get("mac"))])), ips=tuple(filter(None, [as_str(config.get("ip"))])),
            attributes={"hostname": config.get("hn")} if as_str(config.get("hn")) else {},
        )]
    if len(parts) != 3 or parts[0] != "tele":
        return []
    name, kind = parts[1], parts[2]
    if kind == "LWT":
        online = availability(payload, "Online", "Offline")
        return [] if online is None else [DeviceUpdate(keys=(_key(name),), source=f"{SOURCE}.lwt", family=FAMILY,
                                                       available=online, message=text(payload, 64))]
    data = json_object(payload)
    if kind == "STATE":
        wifi = as_dict(data.get("Wifi"))
        return [DeviceUpdate(
            keys=(_key(name),), source=SOURCE, family=FAMILY, uptime_s=as_float(data.get("UptimeSec")),
            rssi_dbm=as_float(wifi.get("Signal")), link_count=as_int(wifi.get("LinkCount")),
            attributes={"wifi_downtime": wifi["Downtime"]} if as_str(wifi.get("Downtime")) else {},
            message=text(payload)[:300],
        )]
    info = as_dict(data.get(kind.capitalize()))
    if kind == "INFO1":
        version = as_str(info.get("Version"))
        return [DeviceUpdate(keys=(_key(name),), source=SOURCE, family=FAMILY, model=as_str(info.get("Module")),
                             firmware=version.split("(")[0] if version else None)]
    if kind == "INFO2":
        return [DeviceUpdate(keys=(_key(name),), source=SOURCE, family=FAMILY,
                             ips=tuple(filter(None, [as_str(info.get("IPAddress"))])))]
    if kind == "INFO3":
        return [DeviceUpdate(keys=(_key(name),), source=SOURCE, family=FAMILY,
                             restart_reason=as_str(info.get("RestartReason")), boot_seq=as_int(info.get("BootCount")),
                             message=text(payload)[:300])]
    return []
