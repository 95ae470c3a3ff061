"""A real Mosquitto broker on a free loopback port (or inside a lab namespace), killable and restartable."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .certs import ServerCertificate


class BrokerError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 10.0, netns: str | None = None) -> None:
    """Wait until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if netns is None:
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        else:
            probe = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    netns,
                    "python3",
                    "-c",
                    f"import socket; socket.create_connection(({host!r}, {port}), timeout=0.5)",
                ],
                capture_output=True,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.1)
    raise BrokerError(f"nothing listens on {host}:{port} after {timeout}s")


class Mosquitto:
    """One broker process. ``start``/``stop``/``kill``/``restart`` on the same port.

    ``extra_config`` lines are appended (listeners, ACLs); ``netns`` runs it inside a namespace; ``tls`` makes
    the listener TLS-only with that certificate (``url`` is then ``mqtts://``).
    """

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        *,
        extra_config: str = "",
        netns: str | None = None,
        workdir: Path | None = None,
        allow_anonymous: bool = True,
        tls: ServerCertificate | None = None,
    ) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise BrokerError("mosquitto is not installed (scripts/setup.sh installs it)")
        self.binary = binary
        self.host = host
        self.port = port or free_port(host if netns is None else "127.0.0.1")
        self.netns = netns
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="homediag-mosquitto-"))
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.tls = tls
        self._allow_anonymous = allow_anonymous
        self._extra_config = extra_config
        self._write_conf()
        self._proc: subprocess.Popen[bytes] | None = None

    def _write_conf(self) -> None:
        tls = self.tls
        self.conf.write_text(
            f"listener {self.port} {self.host}\n"
            + (f"certfile {tls.cert_file}\nkeyfile {tls.key_file}\n" if tls is not None else "")
            + f"allow_anonymous {'true' if self._allow_anonymous else 'false'}\n"
            + "persistence false\n"
            # As the support broker's printed config does (collector.live_broker): no Nagle delay on small packets.
            + "set_tcp_nodelay true\n"
            # As root, mosquitto would drop to the 'mosquitto' user and lose access to our private temp files.
            + ("user root\n" if os.geteuid() == 0 else "")
            + f"log_dest file {self.log}\n"
            + "log_type error\nlog_type warning\n"
            + self._extra_config
        )

    def require_login(self, password_file: Path | None) -> None:
        """From the next start on, admit only the users of ``password_file`` (None: anyone again)."""
        self._allow_anonymous = password_file is None
        self._extra_config = "".join(
            line + "\n" for line in self._extra_config.splitlines() if not line.startswith("password_file ")
        )
        if password_file is not None:
            self._extra_config += f"password_file {password_file}\n"
        self._write_conf()

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls is not None else 'mqtt'}://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise BrokerError("mosquitto is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        cmd = [self.binary, "-c", str(self.conf)]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.host, self.port, timeout, self.netns)
        except BrokerError:
            self.kill()
            raise BrokerError(f"mosquitto did not start: {self._read_log()}") from None

    def _read_log(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL: the broker crashes, its clients see a dead socket."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
        self.kill()

    def reload(self) -> None:
        """SIGHUP: the broker re-reads its password and ACL files."""
        if self.running:
            assert self._proc is not None
            self._proc.send_signal(signal.SIGHUP)

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
