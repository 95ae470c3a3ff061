"""ESPHome over MQTT: ``<node>/status`` birth and will, ``<node>/debug`` logs (with the reset reason), sensors.

A sensor's object id comes from its name, so the uptime and Wi-Fi signal sensors are recognised by how the id
ends (``uptime``, ``living_room_uptime``; ``wifi_signal``, ``curtain_wifi_signal_db``). An uptime sensor with
``type: timestamp`` reports the boot time instead of seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shared.models import LogLine

from ..inventory import DeviceUpdate
from .payload import as_float, availability, text

SOURCE = "esphome"
# The topic prefix is the node name by default (one level); ``mqtt: topic_prefix:`` may give it more levels.
SUBSCRIPTIONS = [
    "+/status",
    "+/debug",
    "+/sensor/+/state",
    "+/text_sensor/+/state",
    "+/+/status",
    "+/+/debug",
    "+/+/sensor/+/state",
    "+/+/text_sensor/+/state",
]
RESET_REASON_IDS = re.compile(r"(^|_)reset_reason$")  # the debug platform's text sensor
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # the logger colours each line for a terminal
UPTIME_IDS = re.compile(r"(^|_)uptime$")
SIGNAL_IDS = re.compile(r"(^|_)(wifi_signal(_db|_dbm)?|rssi)$")
RESET_REASON = re.compile(r"Reset Reason:\s*(.+)$")
VERSION = re.compile(r"ESPHome version (\S+)")
LOCAL_MAC = re.compile(r"Local MAC:\s*([0-9A-Fa-f:]{17})")  # the wifi component's configuration dump
SIGNAL = re.compile(r"Signal strength:\s*(-?\d+)\s*dB")
# safe_mode (ota before 2023) counts boots that did not last: logged once per boot, early.
BOOT_ATTEMPTS = re.compile(r"There have been (\d+) suspected unsuccessful boot attempts")
LOG_LEVEL = re.compile(r"^\[([EWIDVC])\]")
LEVELS = {"E": "error", "W": "warning", "I": "info", "D": "debug", "V": "verbose", "C": "config"}


def key(node: str) -> str:
    return f"esphome:{node}"


def node_of_status_topic(topic: str) -> str | None:
    """The node (topic prefix) whose birth/will topic this is, for prefixes of one or two levels."""
    parts = topic.split("/")
    return "/".join(parts[:-1]) if 2 <= len(parts) <= 3 and parts[-1] == "status" and all(parts) else None


def parse(topic: str, payload: bytes, at: datetime) -> list[DeviceUpdate | LogLine]:
    parts = topic.split("/")
    if len(parts) >= 4 and parts[-3] == "sensor" and parts[-1] == "state":
        return _sensor("/".join(parts[:-3]), parts[-2], text(payload, 64).strip(), at)
    if len(parts) >= 4 and parts[-3] == "text_sensor" and parts[-1] == "state":
        # Retained, so seen again at every agent start: the reason, not a boot signal (the log line is one).
        reason = text(payload, 256).strip()
        return (
            [DeviceUpdate(keys=(key("/".join(parts[:-3])),), source=SOURCE, family="esphome", restart_reason=reason)]
            if RESET_REASON_IDS.search(parts[-2]) and reason
            else []
        )
    node = "/".join(parts[:-1])
    if parts[-1] == "status":
        online = availability(payload)
        return (
            []
            if online is None
            else [DeviceUpdate(keys=(key(node),), source=f"{SOURCE}.status", family="esphome", available=online)]
        )
    if parts[-1] == "debug":
        line = ANSI_ESCAPE.sub("", text(payload, 4096)).strip()
        found: list[DeviceUpdate | LogLine] = []
        level = LOG_LEVEL.match(line)
        found.append(
            LogLine(
                ts=at,
                source=SOURCE,
                device_id=key(node),
                level=LEVELS.get(level.group(1)) if level else None,
                message=line[:2000],
            )
        )
        update = _log_facts(node, line)
        return found if update is None else [*found, update]
    return []


def _log_facts(node: str, line: str) -> DeviceUpdate | None:
    """What one log line says about the node: version, MAC, signal, and the lines only a boot prints."""
    reason, version, mac = RESET_REASON.search(line), VERSION.search(line), LOCAL_MAC.search(line)
    signal, attempts = SIGNAL.search(line), BOOT_ATTEMPTS.search(line)
    if not (reason or version or mac or signal or attempts):
        return None
    # The debug component logs the reset reason while booting (and again when a log viewer asks for the configuration),
    # safe_mode the failed-boot count: boot lines, which the inventory trusts when no uptime says otherwise.
    said = (
        reason.group(1).strip()
        if reason
        else (f"{attempts.group(1)} suspected unsuccessful boot attempts" if attempts else None)
    )
    return DeviceUpdate(
        keys=(key(node),),
        source=SOURCE,
        family="esphome",
        restart_reason=said,
        firmware=version.group(1) if version else None,
        macs=(mac.group(1),) if mac else (),
        rssi_dbm=float(signal.group(1)) if signal else None,
        boot_logged=said is not None,
    )


def _sensor(node: str, object_id: str, value: str, at: datetime) -> list[DeviceUpdate | LogLine]:
    if UPTIME_IDS.search(object_id):
        uptime = as_float(value)
        if uptime is None:
            uptime = _seconds_since(value, at)
        return (
            []
            if uptime is None
            else [DeviceUpdate(keys=(key(node),), source=SOURCE, uptime_s=uptime, message=f"uptime {uptime:g}")]
        )
    if SIGNAL_IDS.search(object_id):
        signal = as_float(value)
        return [] if signal is None else [DeviceUpdate(keys=(key(node),), source=SOURCE, rssi_dbm=signal)]
    return []


def _seconds_since(timestamp: str, at: datetime) -> float | None:
    """Uptime from a boot timestamp (``type: timestamp``); None if it is not one."""
    try:
        boot = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if boot.tzinfo is None:
        boot = boot.replace(tzinfo=UTC)
    seconds = (at - boot).total_seconds()
    return seconds if seconds >= 0 else None
