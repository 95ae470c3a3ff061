"""Home Assistant MQTT discovery, by Home Assistant's own rules.

Topics: ``<prefix>/<component>/[<node_id>/]<object_id>/config``, and device-based discovery
``<prefix>/device/<id>/config`` whose ``cmps`` map holds the components. Every abbreviation is expanded (config,
device and origin tables, ``ha_abbreviations.py``); ``~`` is substituted at the start or the end of every topic
option. An empty payload deletes a config; the MQTT layer then stops following its availability topics.

The device is keyed by everything it carries: each of its ``identifiers`` (``ha:<id>``; a MAC-shaped one is a MAC,
``zigbee2mqtt_<ieee>`` is that Zigbee device, ``zigbee2mqtt_bridge_<ieee>`` its coordinator), each ``connections``
pair (``mac``, ``zigbee``, others namespaced by their type), and the node whose ``<node>/status`` it names as its
availability (ESPHome's birth/will topic) or the Tasmota topic whose ``tele/<topic>/LWT`` it names. Manufacturer
strings are never used to merge.

``parse`` returns, in ``attributes["availability"]``, the availability topics with their payloads and
``value_template``, and in ``attributes["availability_mode"]`` how several combine (``all``/``any``/``latest``).
"""

from __future__ import annotations

import re
from typing import Any

from ..inventory import DeviceUpdate, normalise_mac
from .esphome import node_of_status_topic
from .ha_abbreviations import ABBREVIATIONS, DEVICE_ABBREVIATIONS, ORIGIN_ABBREVIATIONS
from .payload import MalformedPayload, as_dict, as_str, json_object

SOURCE = "homeassistant"
AVAILABILITY_MODES = ("all", "any", "latest")
ZIGBEE2MQTT_ID = re.compile(r"^zigbee2mqtt_(?:bridge_)?(0x[0-9a-fA-F]{16})$")
TASMOTA_LWT = re.compile(r"^tele/([^/+#]+)/LWT$")


def subscriptions(prefix: str) -> list[str]:
    return [f"{prefix}/+/+/config", f"{prefix}/+/+/+/config", f"{prefix}/status"]


def expand(config: dict[str, Any], table: dict[str, str] = ABBREVIATIONS, base: str | None = None) -> dict[str, Any]:
    """Long names for abbreviated keys, and ``~`` (this config's, or ``base`` from the enclosing one) substituted
    at the start or end of every ``*_topic`` value and of ``topic``."""
    expanded = {table.get(key, key): value for key, value in config.items()}
    tilde = expanded.get("~") if isinstance(expanded.get("~"), str) else base
    if isinstance(tilde, str):
        for key, value in list(expanded.items()):
            if (key == "topic" or key.endswith("_topic")) and isinstance(value, str):
                expanded[key] = substitute(value, tilde)
    return expanded


def substitute(topic: str, base: str) -> str:
    if topic.startswith("~"):
        return base + topic[1:]
    if topic.endswith("~"):
        return topic[:-1] + base
    return topic


def availability_topics(config: dict[str, Any]) -> list[dict[str, str]]:
    """``availability_topic`` or the ``availability`` list, each with its payloads and ``value_template``."""
    base = config.get("~") if isinstance(config.get("~"), str) else None
    online = as_str(config.get("payload_available")) or "online"
    offline = as_str(config.get("payload_not_available")) or "offline"
    entries: list[dict[str, str]] = []
    single = as_str(config.get("availability_topic"))
    if single:
        entries.append(_entry(single, online, offline, as_str(config.get("availability_template"))))
    items = config.get("availability")
    for item in items if isinstance(items, list) else []:
        item = expand(as_dict(item), base=base)
        topic = as_str(item.get("topic"))
        if topic:
            entries.append(
                _entry(
                    topic,
                    as_str(item.get("payload_available")) or online,
                    as_str(item.get("payload_not_available")) or offline,
                    as_str(item.get("value_template")),
                )
            )
    return entries


def _entry(topic: str, online: str, offline: str, template: str | None) -> dict[str, str]:
    entry = {"topic": topic, "online": online, "offline": offline}
    if template:
        entry["template"] = template
    return entry


def identifier_keys(identifier: str) -> tuple[list[str], list[str]]:
    """The keys and MACs one device identifier stands for."""
    zigbee = ZIGBEE2MQTT_ID.match(identifier)
    if zigbee:
        return [f"ha:{identifier}", f"ieee:{zigbee.group(1).lower()}"], []
    mac = (
        normalise_mac(identifier)
        if re.fullmatch(r"[0-9A-Fa-f]{12}|([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}", identifier)
        else None
    )
    return [f"ha:{identifier}"], [mac] if mac else []


def connection_keys(connections: Any) -> tuple[list[str], list[str]]:
    keys: list[str] = []
    macs: list[str] = []
    for pair in connections if isinstance(connections, list) else []:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) and x for x in pair)):
            continue
        kind, value = pair[0].lower(), pair[1]
        mac = normalise_mac(value) if kind == "mac" else None
        if mac:
            macs.append(mac)
        elif kind == "zigbee":
            keys.append(f"ieee:{value.lower()}")
        else:
            keys.append(f"ha-connection:{kind}:{value.lower()}")
    return keys, macs


def parse(topic: str, payload: bytes, prefix: str = "homeassistant") -> list[DeviceUpdate]:
    if not topic.startswith(prefix + "/") or not topic.endswith("/config") or not payload:
        return []  # an empty payload deletes one config (the MQTT layer forgets its availability topics)
    config = expand(json_object(payload))
    device = expand(as_dict(config.get("device")), DEVICE_ABBREVIATIONS)
    origin = expand(as_dict(config.get("origin")), ORIGIN_ABBREVIATIONS)
    raw_ids = device.get("identifiers")
    ids = (
        [raw_ids]
        if isinstance(raw_ids, str)
        else [i for i in raw_ids if isinstance(i, str) and i]
        if isinstance(raw_ids, list)
        else []
    )
    keys: list[str] = []
    macs: list[str] = []
    for identifier in ids:
        more_keys, more_macs = identifier_keys(identifier)
        keys += more_keys
        macs += more_macs
    more_keys, more_macs = connection_keys(device.get("connections"))
    keys += more_keys
    macs += more_macs
    if not keys and not macs:
        unique = as_str(config.get("unique_id"))
        if unique is None:
            return []
        keys.append(f"ha-entity:{unique}")
    availability = availability_topics(config)
    for component in as_dict(config.get("components")).values():
        availability += availability_topics(
            expand(as_dict(component), base=config.get("~") if isinstance(config.get("~"), str) else None)
        )
    # A node announcing itself on <node>/status is the node the ESPHome adapter knows by that topic; a device whose
    # availability is tele/<topic>/LWT is the Tasmota device of that topic (Tasmota's own HA discovery says so).
    keys += [
        f"esphome:{node}" for node in dict.fromkeys(node_of_status_topic(e["topic"]) for e in availability) if node
    ]
    keys += [f"tasmota:{found.group(1)}" for found in (TASMOTA_LWT.match(e["topic"]) for e in availability) if found]
    mode = as_str(config.get("availability_mode")) or "latest"
    if mode not in AVAILABILITY_MODES:
        raise MalformedPayload(f"availability_mode {mode!r} is none of {AVAILABILITY_MODES}")
    via = as_str(device.get("via_device"))
    attributes: dict[str, Any] = {}
    if availability:
        attributes |= {"availability": availability, "availability_mode": mode}
    if as_str(origin.get("name")):
        attributes["origin"] = origin["name"]
    if as_str(device.get("model_id")) and as_str(device.get("model")):
        attributes["model_name"] = device["model"]  # the model's name; model_id is the code other sources give
    if as_str(device.get("serial_number")):
        attributes["serial_number"] = device["serial_number"]
    return [
        DeviceUpdate(
            keys=tuple(dict.fromkeys(keys or [f"mac:{normalise_mac(macs[0])}"])),
            source=SOURCE,
            name=as_str(device.get("name")),
            manufacturer=as_str(device.get("manufacturer")),
            model=as_str(device.get("model_id")) or as_str(device.get("model")),
            firmware=as_str(device.get("sw_version")),
            macs=tuple(dict.fromkeys(macs)),
            parent_key=identifier_keys(via)[0][-1] if via else None,
            attributes=attributes,
        )
    ]
