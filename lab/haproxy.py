"""HAProxy (Debian's package) in front of collector replicas on loopback, with the shipped configuration
(packaging/haproxy-collector.cfg) and its ports rewritten: what the failover test and the ingest bench use."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .collector_process import CollectorProcess
from .mosquitto import free_port

SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "packaging" / "haproxy-collector.cfg"
SHIPPED_FRONTEND = "bind :8470"
SHIPPED_REPLICA_PORTS = (8471, 8472)


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Balancer:
    """HAProxy in the foreground over the given replicas (the shipped config has two; fewer leaves it out)."""

    def __init__(self, directory: Path, replicas: list[CollectorProcess]) -> None:
        self.port = free_port()
        config = SHIPPED_CONFIG.read_text().replace(SHIPPED_FRONTEND, f"bind 127.0.0.1:{self.port}")
        for number, shipped in enumerate(SHIPPED_REPLICA_PORTS):
            line = f"    server replica{number + 1} 127.0.0.1:{shipped} check\n"
            ours = (
                f"    server replica{number + 1} 127.0.0.1:{replicas[number].port} check\n"
                if number < len(replicas)
                else ""
            )
            config = config.replace(line, ours)
        self.config = directory / "haproxy.cfg"
        self.config.write_text(config)
        self.log = directory / "haproxy.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                ["haproxy", "-db", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if _http_status(self.url + "/healthz") == 200:
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"haproxy did not come up: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None

    def __enter__(self) -> Balancer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
