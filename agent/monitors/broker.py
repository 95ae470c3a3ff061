"""The home broker: does it accept connections at the configured URL? (Discovery's MQTT session reports the
session itself; this check answers even when no session is up.)"""

from __future__ import annotations

from urllib.parse import urlsplit

from .internet import tcp_connect
from .result import ProbeResult

DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}


def check_broker(url: str, timeout: float) -> ProbeResult:
    parts = urlsplit(url)
    if not parts.hostname:
        return ProbeResult(False, detail=f"bad broker URL {url!r}")
    return tcp_connect(parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme, 1883), timeout)
