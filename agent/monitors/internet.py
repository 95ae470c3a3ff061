"""Internet reachability: the configured targets, ``host:port`` by TCP connect, a bare host by ICMP echo."""

from __future__ import annotations

import socket
import time

from .gateway import icmp_echo
from .result import ProbeResult, elapsed_ms, os_error


def split_target(target: str, default_port: int | None = None) -> tuple[str, int | None]:
    """``host:port`` → (host, port); a bare host → (host, default_port)."""
    host, sep, port = target.rpartition(":")
    if sep and port.isdecimal():
        return host, int(port)
    return target, default_port


def tcp_connect(host: str, port: int, timeout: float) -> ProbeResult:
    """A TCP handshake. Blocking."""
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ProbeResult(True, elapsed_ms(started))
    except ConnectionRefusedError:
        return ProbeResult(False, detail="refused")
    except OSError as exc:
        return ProbeResult(False, detail=os_error(exc))


def check_internet(targets: list[str], timeout: float) -> ProbeResult:
    """Up when any target answers: one unreachable site is not the internet being down."""
    details = []
    for target in targets:
        host, port = split_target(target)
        result = tcp_connect(host, port, timeout) if port is not None else icmp_echo(host, timeout)
        if result.ok:
            return ProbeResult(True, result.latency_ms, target)
        details.append(f"{target}: {result.detail}")
    return ProbeResult(False, detail="; ".join(details))
