"""The home broker: does it accept connections at the configured URL? (Discovery's MQTT session reports the
session itself; this check answers even when no session is up.)"""

from __future__ import annotations

from shared.broker_url import parse_broker_url

from .internet import tcp_connect
from .result import ProbeResult


def check_broker(url: str, timeout: float) -> ProbeResult:
    try:
        address = parse_broker_url(url)
    except ValueError as exc:
        return ProbeResult(False, detail=str(exc))
    return tcp_connect(address.host, address.port, timeout)
