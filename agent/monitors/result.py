"""What one probe found: the common answer of every monitor adapter."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float | None = None
    detail: str = ""


def os_error(exc: OSError) -> str:
    return str(exc) or type(exc).__name__


def elapsed_ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
