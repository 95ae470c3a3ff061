"""Zigbee2MQTT 2.x: the bridge (state, info, health, logging, events) and its devices (list, availability, link quality).

Every Zigbee device has the coordinator as its parent. ``bridge/health``'s process uptime dropping means the
Zigbee2MQTT process restarted.

A friendly name may hold slashes (``living/curtain``: Zigbee2MQTT nests the topics), so everything under the
base topic is read: ``<name>/availability`` is availability, ``<name>/set|get[/attr]`` are commands to the
device (ignored), ``<name>/linkquality`` with a bare number is the ``output: attribute`` style, and any other
topic whose payload is a JSON object is the device's state. A home may run several bridges, each under its own
base topic; ``announced_base`` recognises another bridge by its retained ``bridge/info``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.models import LogLine

from ..inventory import DeviceUpdate
from .payload import MalformedPayload, as_dict, as_float, as_int, as_str, json_object, json_value, text

SOURCE = "zigbee2mqtt"
INFO_SUFFIX = "/bridge/info"
# Where any bridge announces itself (retained), for base topics of one to three levels (``zigbee2mqtt``, ``home/z2m``).
INFO_FILTERS = ("+/bridge/info", "+/+/bridge/info", "+/+/+/bridge/info")
COMMANDS = frozenset({"set", "get"})


def subscriptions(base: str) -> list[str]:
    return [f"{base}/#"]


def announced_base(topic: str, payload: bytes) -> str | None:
    """The base topic of a Zigbee2MQTT bridge whose ``bridge/info`` this is, or None if it is something else."""
    if not topic.endswith(INFO_SUFFIX):
        return None
    base = topic[: -len(INFO_SUFFIX)]
    try:
        info = json_object(payload)
    except MalformedPayload:
        return None
    if not as_str(info.get("version")) or not isinstance(info.get("coordinator"), dict):
        return None
    configured = as_str(as_dict(as_dict(info.get("config")).get("mqtt")).get("base_topic"))
    return base if configured in (None, base) else None


def bridge_key(base: str) -> str:
    return f"z2m-bridge:{base}"


def _device_key(base: str, friendly: str) -> str:
    return f"z2m:{base}:{friendly}"


def _devices(base: str, devices: Any) -> list[DeviceUpdate]:
    if not isinstance(devices, list):
        raise MalformedPayload("bridge/devices is not a list")
    coordinator = next(
        (as_str(d.get("ieee_address")) for d in devices if isinstance(d, dict) and d.get("type") == "Coordinator"), None
    )
    updates = []
    for entry in devices:
        address = (
            as_str(entry.get("ieee_address")) or as_str(entry.get("ieeeAddr")) if isinstance(entry, dict) else None
        )
        if address is None:
            continue  # 1.x's legacy bridge/config/devices said ieeeAddr, with model and vendor at the top level
        ieee = f"ieee:{address.lower()}"
        friendly = as_str(entry.get("friendly_name")) or address
        if entry.get("type") == "Coordinator":
            updates.append(
                DeviceUpdate(
                    keys=(ieee, bridge_key(base)), source=SOURCE, family="zigbee2mqtt", name="Zigbee coordinator"
                )
            )
            continue
        definition = as_dict(entry.get("definition"))
        updates.append(
            DeviceUpdate(
                keys=(ieee, _device_key(base, friendly)),
                source=SOURCE,
                family="zigbee2mqtt",
                name=friendly,
                manufacturer=as_str(definition.get("vendor"))
                or as_str(entry.get("vendor"))
                or as_str(entry.get("manufacturer")),
                model=as_str(definition.get("model")) or as_str(entry.get("model")) or as_str(entry.get("model_id")),
                firmware=as_str(entry.get("software_build_id")) or as_str(entry.get("softwareBuildID")),
                parent_key=f"ieee:{coordinator.lower()}" if coordinator else bridge_key(base),
                attributes={k: entry[k] for k in ("type", "power_source", "model_id") if as_str(entry.get(k))},
            )
        )
    return updates


def parse(topic: str, payload: bytes, at: datetime, base: str = "zigbee2mqtt") -> list[DeviceUpdate | LogLine]:
    if not topic.startswith(base + "/"):
        return []
    rest = topic[len(base) + 1 :].split("/")
    if rest[0] == "bridge":
        return _bridge(base, rest[1:], payload, at)
    return _device_topic(base, rest, payload)


def _device_topic(base: str, parts: list[str], payload: bytes) -> list[DeviceUpdate | LogLine]:
    *name, last = parts
    if name and (last in COMMANDS or (len(name) > 1 and name[-1] in COMMANDS)):
        return []
    if name and last == "availability":
        raw = text(payload, 1024).strip()
        state = (
            raw.lower() if raw.lower() in ("online", "offline") else as_str(as_dict(json_value(payload)).get("state"))
        )
        if state not in ("online", "offline"):
            return []
        return [
            DeviceUpdate(
                keys=(_device_key(base, "/".join(name)),), source=f"{SOURCE}.availability", available=state == "online"
            )
        ]
    if name and last == "linkquality" and not payload.lstrip().startswith(b"{"):
        quality = as_int(text(payload, 64).strip())
        return (
            []
            if quality is None
            else [DeviceUpdate(keys=(_device_key(base, "/".join(name)),), source=SOURCE, link_quality=quality)]
        )
    if not payload.lstrip().startswith(b"{"):
        return []  # one attribute on its own topic (``output: attribute``), or not a device at all
    data = json_object(payload)
    quality = as_int(data.get("linkquality"))
    if quality is None:
        return []
    return [
        DeviceUpdate(
            keys=(_device_key(base, "/".join(parts)),), source=SOURCE, link_quality=quality, message=text(payload)[:300]
        )
    ]


def _bridge(base: str, rest: list[str], payload: bytes, at: datetime) -> list[DeviceUpdate | LogLine]:
    key = (bridge_key(base),)
    what = rest[0] if rest else ""
    if what == "state":
        raw = text(payload, 1024).strip()
        state = raw if raw in ("online", "offline") else as_str(as_dict(json_value(payload)).get("state"))
        if state not in ("online", "offline"):
            return []
        return [
            DeviceUpdate(
                keys=key,
                source=f"{SOURCE}.bridge",
                family="zigbee2mqtt",
                name=f"Zigbee2MQTT ({base})",
                available=state == "online",
            )
        ]
    if what == "devices" or rest == ["config", "devices"]:  # 2.x, and 1.x's legacy API
        return list(_devices(base, json_value(payload)))
    if rest == ["config"]:  # 1.x's legacy bridge/config: the version, as bridge/info says it in 2.x
        legacy = json_object(payload)
        return [
            DeviceUpdate(
                keys=key,
                source=f"{SOURCE}.bridge",
                family="zigbee2mqtt",
                firmware=as_str(legacy.get("version")),
                model=as_str(as_dict(legacy.get("coordinator")).get("type")),
            )
        ]
    if what == "info":
        info = json_object(payload)
        coordinator = as_dict(info.get("coordinator"))
        ieee = as_str(coordinator.get("ieee_address"))
        keys = key + ((f"ieee:{ieee.lower()}",) if ieee else ())
        return [
            DeviceUpdate(
                keys=keys,
                source=f"{SOURCE}.bridge",
                family="zigbee2mqtt",
                firmware=as_str(info.get("version")),
                model=as_str(coordinator.get("type")),
                attributes={"channel": as_dict(info.get("network")).get("channel")},
            )
        ]
    if what == "health":
        health = json_object(payload)
        uptime = as_float(as_dict(health.get("process")).get("uptime_sec"))
        return (
            []
            if uptime is None
            else [
                DeviceUpdate(
                    keys=key, source=f"{SOURCE}.bridge", uptime_s=uptime, restart_reason="zigbee2mqtt process restart"
                )
            ]
        )
    if what == "event":
        return _event(base, json_object(payload), at)
    if what == "logging":
        entry = json_object(payload)
        message = as_str(entry.get("message"))
        return (
            []
            if message is None
            else [LogLine(ts=at, source=SOURCE, level=as_str(entry.get("level")), message=message[:2000])]
        )
    return []


def _event(base: str, event: dict[str, Any], at: datetime) -> list[DeviceUpdate | LogLine]:
    """``device_joined``/``device_announce``/``device_leave``/``device_interview`` from the bridge."""
    kind, data = as_str(event.get("type")), as_dict(event.get("data"))
    ieee, friendly = as_str(data.get("ieee_address")), as_str(data.get("friendly_name"))
    if kind is None or ieee is None:
        return []
    keys = (f"ieee:{ieee.lower()}",) + ((_device_key(base, friendly),) if friendly else ())
    line = LogLine(
        ts=at,
        source=SOURCE,
        level="info",
        message=f"{kind} {friendly or ieee} {as_str(data.get('status')) or ''}".strip(),
    )
    if kind == "device_leave":
        return [line, DeviceUpdate(keys=keys, source=f"{SOURCE}.event", available=False, message="left the network")]
    if kind in ("device_joined", "device_announce"):
        # A device announces itself when it (re)joins the network, which a power cycle or a crash makes it do.
        return [
            line,
            DeviceUpdate(
                keys=keys,
                source=f"{SOURCE}.event",
                family="zigbee2mqtt",
                name=friendly,
                parent_key=bridge_key(base),
                message=kind,
                restart_reason="rejoined the Zigbee network (device announce)" if kind == "device_announce" else None,
                boot_announced=kind == "device_announce",
            ),
        ]
    return [line]
