"""Home Assistant MQTT discovery: per-component and device-based (``cmps``) configs, abbreviations, ``~``.

``parse`` returns the device described by a config and, in ``attributes["availability"]``, the availability
topics with their payloads, which the MQTT layer then follows. An empty payload deletes a config.
"""

from __future__ import annotations

from typing import Any

from ..inventory import DeviceUpdate, normalise_mac
from .payload import as_dict, as_str, json_object

SOURCE = "homeassistant"

# The subset of Home Assistant's abbreviations that discovery needs (homeassistant/components/mqtt/abbreviations.py).
ABBREVIATIONS = {
    "avty": "availability", "avty_t": "availability_topic", "avty_mode": "availability_mode", "t": "topic",
    "pl_avail": "payload_available", "pl_not_avail": "payload_not_available", "uniq_id": "unique_id",
    "stat_t": "state_topic", "cmd_t": "command_topic", "dev": "device", "o": "origin", "cmps": "components",
    "obj_id": "object_id", "p": "platform", "name": "name",
}
DEVICE_ABBREVIATIONS = {"ids": "identifiers", "cns": "connections", "mf": "manufacturer", "mdl": "model",
                        "mdl_id": "model_id", "sw": "sw_version", "hw": "hw_version", "sa": "suggested_area",
                        "via_device": "via_device", "name": "name"}


def subscriptions(prefix: str) -> list[str]:
    return [f"{prefix}/+/+/config", f"{prefix}/+/+/+/config", f"{prefix}/status"]


def expand(config: dict[str, Any], table: dict[str, str] = ABBREVIATIONS) -> dict[str, Any]:
    """Long names for abbreviated keys, and ``~`` substituted at the start or end of ``*_topic`` values."""
    expanded = {table.get(key, key): value for key, value in config.items()}
    base = expanded.get("~")
    if isinstance(base, str):
        for key, value in list(expanded.items()):
            if key.endswith("_topic") and isinstance(value, str):
                if value.startswith("~"):
                    expanded[key] = base + value[1:]
                elif value.endswith("~"):
                    expanded[key] = value[:-1] + base
    return expanded


def availability_topics(config: dict[str, Any]) -> list[dict[str, str]]:
    base = config.get("~") if isinstance(config.get("~"), str) else ""
    entries: list[dict[str, str]] = []
    online = as_str(config.get("payload_available")) or "online"
    offline = as_str(config.get("payload_not_available")) or "offline"
    if as_str(config.get("availability_topic")):
        entries.append({"topic": config["availability_topic"], "online": online, "offline": offline})
    for item in config.get("availability") or []:
        item = expand(as_dict(item))
        topic = as_str(item.get("topic"))
        if topic:
            if base and topic.startswith("~"):
                topic = base + topic[1:]
            entries.append({"topic": topic, "online": as_str(item.get("payload_available")) or online,
                            "offline": as_str(item.get("payload_not_available")) or offline})
    return entries


def parse(topic: str, payload: bytes, prefix: str = "homeassistant") -> list[DeviceUpdate]:
    if not topic.startswith(prefix + "/") or not topic.endswith("/config") or not payload:
        return []  # an empty payload deletes one entity; the device stays until its own sources drop it
    config = expand(json_object(payload))
    device = expand(as_dict(config.get("device")), DEVICE_ABBREVIATIONS)
    identifiers = device.get("identifiers")
    ids = [identifiers] if isinstance(identifiers, str) else [i for i in identifiers or [] if isinstance(i, str)]
    macs = [c[1] for c in device.get("connections") or [] if isinstance(c, list) and len(c) == 2 and c[0] == "mac"
            and isinstance(c[1], str) and normalise_mac(c[1])]
    keys = [f"ha:{i}" for i in ids] or ([f"ha-entity:{config['unique_id']}"] if as_str(config.get("unique_id")) else [])
    if not keys and not macs:
        return []
    availability = availability_topics(config)
    for component in as_dict(config.get("components")).values():
        availability += availability_topics(expand(as_dict(component)))
    if device.get("manufacturer") == "Espressif":
        # ESPHome announces itself on <node>/status: the same device as the esphome adapter's.
        keys += [f"esphome:{entry['topic'][:-len('/status')]}" for entry in availability if entry["topic"].endswith("/status")]
    return [DeviceUpdate(
        keys=tuple(keys or [f"mac:{normalise_mac(macs[0])}"]), source=SOURCE, name=as_str(device.get("name")),
        manufacturer=as_str(device.get("manufacturer")), model=as_str(device.get("model")),
        firmware=as_str(device.get("sw_version")), macs=tuple(macs),
        attributes={"availability": availability} if availability else {},
    )]
