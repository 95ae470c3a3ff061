"""The parts of a lab home that the home and its faults both handle: simulated devices and lab processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class DeviceSpec:
    """One simulated device: ``family`` is a ``lab.simulators`` family; ``args`` are extra simulator options."""

    name: str
    family: str
    report_interval: float = 5.0
    reconnect_delay: float | None = None
    args: Sequence[str] = ()


@dataclass
class LabProcess:
    """A process the lab started in one of its namespaces; ``popen`` is None when attached from a state file."""

    name: str
    ns: str
    argv: list[str]
    log_path: Path
    pid: int
    popen: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{self.pid}/stat").exists() and " Z " not in Path(f"/proc/{self.pid}/stat").read_text()

    def signal(self, sig: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``; reaps the child."""
        self.signal(signal.SIGTERM)
        self._wait(grace_s)
        self.kill()

    def kill(self) -> None:
        """SIGKILL at once (a crash / power cut)."""
        self.signal(signal.SIGKILL)
        self._wait(5.0)

    def _wait(self, timeout: float) -> None:
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
            return
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            time.sleep(0.05)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def to_state(self) -> dict[str, Any]:
        return {"name": self.name, "ns": self.ns, "argv": self.argv, "log_path": str(self.log_path), "pid": self.pid}


@dataclass
class Device:
    spec: DeviceSpec
    ns: str
    ip: str
    router_port: str
    boot_count: int = 1
    process: LabProcess | None = None
    powered: bool = True

    @property
    def name(self) -> str:
        return self.spec.name
