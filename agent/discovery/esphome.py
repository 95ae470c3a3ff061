"""ESPHome over MQTT: ``<node>/status`` birth and will, ``<node>/debug`` logs (with the reset reason), sensors."""

from __future__ import annotations

import re
from datetime import datetime

from shared.models import LogLine

from ..inventory import DeviceUpdate
from .payload import as_float, availability, text

SOURCE = "esphome"
SUBSCRIPTIONS = ["+/status", "+/debug", "+/sensor/uptime/state", "+/sensor/wifi_signal/state"]
RESET_REASON = re.compile(r"Reset Reason:\s*(.+)$")
VERSION = re.compile(r"ESPHome version (\S+)")
LOG_LEVEL = re.compile(r"^\[([EWIDVC])\]")
LEVELS = {"E": "error", "W": "warning", "I": "info", "D": "debug", "V": "verbose", "C": "config"}


def key(node: str) -> str:
    return f"esphome:{node}"


def parse(topic: str, payload: bytes, at: datetime) -> list[DeviceUpdate | LogLine]:
    parts = topic.split("/")
    node = parts[0]
    if len(parts) == 2 and parts[1] == "status":
        online = availability(payload)
        return [] if online is None else [DeviceUpdate(keys=(key(node),), source=f"{SOURCE}.status", family="esphome",
                                                       available=online)]
    if len(parts) == 2 and parts[1] == "debug":
        line = text(payload, 4096).strip()
        found: list[DeviceUpdate | LogLine] = []
        level = LOG_LEVEL.match(line)
        found.append(LogLine(ts=at, source=SOURCE, device_id=key(node), level=LEVELS.get(level.group(1)) if level else None,
                             message=line[:2000]))
        reason, version = RESET_REASON.search(line), VERSION.search(line)
        if reason or version:
            found.append(DeviceUpdate(keys=(key(node),), source=SOURCE, family="esphome",
                                      restart_reason=reason.group(1).strip() if reason else None,
                                      firmware=version.group(1) if version else None))
        return found
    if len(parts) == 4 and parts[1] == "sensor":
        value = as_float(text(payload, 64).strip())
        if value is None:
            return []
        if parts[2] == "uptime":
            return [DeviceUpdate(keys=(key(node),), source=SOURCE, uptime_s=value, message=f"uptime {value:g}")]
        return [DeviceUpdate(keys=(key(node),), source=SOURCE, rssi_dbm=value)]
    return []
