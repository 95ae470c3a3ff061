"""A real ``homediag-collector serve`` process on loopback, stoppable and restartable on the same data dir.

Used by the end-to-end tests and the demo. Admin commands (tokens, users) run the real CLI against the same
data directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .mosquitto import BrokerError, free_port, wait_for_port


class CollectorProcessError(RuntimeError):
    pass


def _collector_command() -> list[str]:
    script = Path(sys.executable).with_name("homediag-collector")
    return [str(script)] if script.exists() else [shutil.which("homediag-collector") or "homediag-collector"]


class CollectorProcess:
    """One collector serving ``data_dir`` on ``127.0.0.1:port``."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        extra_env: dict[str, str] | None = None,
        netns: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.netns = netns  # serve inside this lab namespace (admin commands work on the data dir from anywhere)
        self.port = port or (8470 if netns else free_port(host))
        self.extra_env = dict(extra_env or {})
        self.log_path = self.data_dir / "collector.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise CollectorProcessError("the collector is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.extra_env}

    def _base_args(self) -> list[str]:
        return [*_collector_command(), "--data-dir", str(self.data_dir)]

    def start(self, timeout: float = 15.0) -> None:
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [*prefix, *self._base_args(), "serve", "--host", self.host, "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
            )
        try:
            wait_for_port(self.host, self.port, timeout, netns=self.netns)
        except BrokerError:
            self.kill()
            raise CollectorProcessError(f"the collector did not start: {self.log_tail()}") from None

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def admin(self, *args: str) -> str:
        """Run an admin command (``token create --household H``…) on the same data dir; returns stdout."""
        done = subprocess.run([*self._base_args(), *args], capture_output=True, text=True, env=self._env(), timeout=60)
        if done.returncode != 0:
            raise CollectorProcessError(f"homediag-collector {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        data: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """One HTTP request to the API (JSON ``body`` or raw ``data``, bearer ``token``).

        Returns the status and the raw answer, for 4xx/5xx too.
        """
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, method=method, headers=headers, data=data)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    def kill(self) -> None:
        """SIGKILL: the collector crashes."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not leave within 10 s. Its exit code when it left by itself."""
        code = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(10)
        self.kill()
        return code

    def __enter__(self) -> CollectorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
