"""Shelly: Gen1 announce/online/info, Gen2+ ``<prefix>/online``, ``events/rpc`` notifications, and the
``<prefix>/status/sys|wifi`` messages a Gen2+ device publishes when "generic status update over MQTT" is on.

A Gen2+ device's topic prefix is its id by default, but any prefix of one to three levels is read
(``shelly-ht/shelly-plus-ht-01``); the ``src`` of its ``events/rpc`` frames names the device whatever the prefix,
so both are keys of one device. ``reset_reason`` is ESP-IDF's ``esp_reset_reason_t`` number, said in words.
"""

from __future__ import annotations

from typing import Any

from ..inventory import DeviceUpdate
from .payload import as_dict, as_float, as_str, availability, json_object, text

SOURCE = "shelly"

PREFIX_LEVELS = ("+", "+/+", "+/+/+")
SUBSCRIPTIONS = [
    "shellies/announce",
    "shellies/+/online",
    "shellies/+/info",
    *(f"{prefix}/{tail}" for prefix in PREFIX_LEVELS for tail in ("online", "events/rpc", "status/sys", "status/wifi")),
]
# ESP-IDF's esp_reset_reason_t, which Gen2+ firmware reports as sys.reset_reason.
RESET_REASONS = {
    0: "unknown",
    1: "power on",
    2: "external pin reset",
    3: "software restart",
    4: "crash (panic)",
    5: "interrupt watchdog",
    6: "task watchdog",
    7: "other watchdog",
    8: "wake from deep sleep",
    9: "brownout",
    10: "SDIO reset",
}


def reset_reason_words(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return RESET_REASONS.get(value, f"reset reason {value}")
    return as_str(value)


def _key(prefix: str) -> str:
    return f"shelly:{prefix}"


def _status_update(
    prefix: str, params: dict[str, Any], raw: str, family: str, source_id: str | None = None
) -> DeviceUpdate:
    """``source_id``: the ``src`` an RPC frame names, another key of the same device."""
    system, wifi = as_dict(params.get("sys")), as_dict(params.get("wifi"))
    updates = as_dict(system.get("available_updates"))
    return DeviceUpdate(
        keys=(_key(prefix), _key(source_id)) if source_id else (_key(prefix),),
        source=SOURCE,
        family=family,
        manufacturer="Shelly",
        macs=tuple(filter(None, [as_str(system.get("mac"))])),
        ips=tuple(filter(None, [as_str(wifi.get("sta_ip"))])),
        uptime_s=as_float(system.get("uptime")),
        rssi_dbm=as_float(wifi.get("rssi")),
        restart_reason=reset_reason_words(system.get("reset_reason")),
        attributes={"available_updates": updates} if updates else {},
        message=raw[:300],
    )


def _gen1_info(device_id: str, info: dict[str, Any], raw: str) -> DeviceUpdate:
    """The periodic Gen1 ``info`` message: the HTTP ``/status`` document."""
    wifi, update = as_dict(info.get("wifi_sta")), as_dict(info.get("update"))
    return DeviceUpdate(
        keys=(_key(device_id),),
        source=SOURCE,
        family="shelly_gen1",
        manufacturer="Shelly",
        macs=tuple(filter(None, [as_str(info.get("mac"))])),
        ips=tuple(filter(None, [as_str(wifi.get("ip"))])),
        uptime_s=as_float(info.get("uptime")),
        rssi_dbm=as_float(wifi.get("rssi")),
        firmware=as_str(update.get("old_version")),
        attributes={"new_fw": bool(update.get("has_update"))} if "has_update" in update else {},
        message=raw[:300],
    )


def parse(topic: str, payload: bytes) -> list[DeviceUpdate]:
    parts = topic.split("/")
    if topic == "shellies/announce":
        data = json_object(payload)
        device_id = as_str(data.get("id"))
        if device_id is None:
            return []
        return [
            DeviceUpdate(
                keys=(_key(device_id),),
                source=SOURCE,
                family="shelly_gen1",
                manufacturer="Shelly",
                model=as_str(data.get("model")),
                firmware=as_str(data.get("fw_ver")),
                macs=tuple(filter(None, [as_str(data.get("mac"))])),
                ips=tuple(filter(None, [as_str(data.get("ip"))])),
                attributes={"new_fw": bool(data.get("new_fw"))},
            )
        ]
    if len(parts) == 3 and parts[0] == "shellies" and parts[2] == "online":
        online = availability(payload, "true", "false")
        return (
            []
            if online is None
            else [
                DeviceUpdate(keys=(_key(parts[1]),), source=f"{SOURCE}.online", family="shelly_gen1", available=online)
            ]
        )
    if len(parts) == 3 and parts[0] == "shellies" and parts[2] == "info":
        return [_gen1_info(parts[1], json_object(payload), text(payload))]
    if len(parts) >= 3 and parts[-2] == "status" and parts[-1] in ("sys", "wifi"):
        return [_status_update("/".join(parts[:-2]), {parts[-1]: json_object(payload)}, text(payload), "shelly_gen2")]
    if len(parts) >= 2 and parts[-1] == "online":
        online = availability(payload, "true", "false")
        return (
            []
            if online is None
            else [
                DeviceUpdate(
                    keys=(_key("/".join(parts[:-1])),),
                    source=f"{SOURCE}.online",
                    family="shelly_gen2",
                    available=online,
                )
            ]
        )
    if len(parts) >= 3 and parts[-2:] == ["events", "rpc"]:
        frame = json_object(payload)
        method = frame.get("method")
        if method not in ("NotifyStatus", "NotifyFullStatus"):
            return []
        params, source_id = as_dict(frame.get("params")), as_str(frame.get("src"))
        return [_status_update("/".join(parts[:-2]), params, text(payload), "shelly_gen2", source_id)]
    return []
