"""Tasmota: discovery config, LWT, STATE telemetry and the INFO1–3 messages sent after boot.

The subscriptions assume Tasmota's default FullTopic ``%prefix%/%topic%/``. A device with another FullTopic
says so in its discovery config (``ft``, ``tp``); its LWT topic is then computed and handed to the MQTT layer
to follow as an availability topic, like a Home Assistant one.
"""

from __future__ import annotations

from ..inventory import DeviceUpdate
from .payload import as_dict, as_float, as_int, as_str, availability, json_object, text

SOURCE = "tasmota"
FAMILY = "tasmota"


def subscriptions(discovery_prefix: str) -> list[str]:
    return [f"{discovery_prefix}/+/config", "tele/+/LWT", "tele/+/STATE", "tele/+/INFO1", "tele/+/INFO2", "tele/+/INFO3"]


DEFAULT_FULL_TOPIC = "%prefix%/%topic%/"


def _key(topic_name: str) -> str:
    return f"tasmota:{topic_name}"


def lwt_topic(config: dict[str, object], name: str) -> str | None:
    """Where a device with a custom FullTopic publishes its LWT; None for the default layout (or no ``ft``)."""
    full_topic, prefixes = as_str(config.get("ft")), config.get("tp")
    if full_topic is None or full_topic == DEFAULT_FULL_TOPIC:
        return None
    tele = prefixes[2] if isinstance(prefixes, list) and len(prefixes) == 3 and as_str(prefixes[2]) else "tele"
    mac = as_str(config.get("mac")) or ""
    topic = (full_topic.replace("%prefix%", str(tele)).replace("%topic%", name)
             .replace("%hostname%", as_str(config.get("hn")) or "").replace("%id%", mac[-6:].upper()))
    topic = (topic if topic.endswith("/") else topic + "/") + "LWT"
    return None if "%" in topic or "+" in topic or "#" in topic else topic


def parse(topic: str, payload: bytes, discovery_prefix: str = "tasmota/discovery") -> list[DeviceUpdate]:
    parts = topic.split("/")
    if topic.startswith(discovery_prefix + "/") and topic.endswith("/config"):
        config = json_object(payload)
        name = as_str(config.get("t"))
        if name is None:
            return []
        attributes: dict[str, object] = {"hostname": config["hn"]} if as_str(config.get("hn")) else {}
        lwt = lwt_topic(config, name)
        if lwt is not None:
            attributes["availability"] = [{"topic": lwt, "online": as_str(config.get("onln")) or "Online",
                                           "offline": as_str(config.get("ofln")) or "Offline"}]
        return [DeviceUpdate(
            keys=(_key(name),), source=SOURCE, family=FAMILY, name=as_str(config.get("dn")) or name,
            model=as_str(config.get("md")), firmware=as_str(config.get("sw")), manufacturer="Tasmota",
            macs=tuple(filter(None, [as_str(config.get("mac"))])), ips=tuple(filter(None, [as_str(config.get("ip"))])),
            attributes=attributes,
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
