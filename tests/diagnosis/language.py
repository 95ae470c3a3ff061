"""What counts as untranslated text on the Chinese page: Latin words other than device names and units.

Allowed: the names of the test home's devices and rooms, brand and product names customers see on the boxes
(Shelly, Zigbee, Wi-Fi, …), the technical names Chinese users meet in their router's settings (DNS, MQTT, NTP,
UPS), units, and a device's own words quoted verbatim (“…”, e.g. the restart reason it reported).
"""

from __future__ import annotations

import re

PROPER_NAMES = {
    "wi-fi",
    "wifi",
    "zigbee",
    "shelly",
    "tasmota",
    "esphome",
    "homekit",
    "home",
    "assistant",
    "dns",
    "mqtt",
    "ntp",
    "ups",
    "dbm",
}
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]*")
_QUOTED = re.compile(r"“[^”]*”")


def untranslated(text: str, device_names: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """The Latin words of ``text`` that are neither names nor units."""
    names = {word.lower() for name in device_names for word in _WORD.findall(name)}
    text = _QUOTED.sub(" ", text)
    return [word for word in _WORD.findall(text) if word.lower() not in PROPER_NAMES | names]


def han(text: str) -> list[str]:
    """Chinese characters on the English page."""
    return re.findall(r"[\u4e00-\u9fff]+", text)
