"""A real S3-compatible object store for tests and the lab: OpenStack Swift with its s3api middleware.

Four plain processes from Debian's packages (``scripts/swift-s3.sh``, after shared/recipes/s3-swift.md), bound to
127.0.0.1 on free ports, with all data in a temporary directory that ``stop`` removes. The S3 credentials are
tempauth's test account: access key ``test:tester``, secret ``testing``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .mosquitto import free_port

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "swift-s3.sh"
BACKEND_PORT_OFFSETS = (120, 121, 122)  # object, container and account servers, as the script places them
ACCESS_KEY_ID = "test:tester"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"


class SwiftError(RuntimeError):
    pass


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class SwiftS3:
    """``start()`` blocks until the S3 endpoint answers (about 2 s); ``stop()`` ends the processes it started."""

    base: Path | None = None
    port: int = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        assert self.base is not None
        return os.environ | {"S3_BASE": str(self.base), "S3_PORT": str(self.port)}

    def start(self, attempts: int = 5) -> None:
        if shutil.which("swift-proxy-server") is None:
            raise SwiftError("OpenStack Swift is not installed: run scripts/setup.sh")
        for _ in range(attempts):
            self.port = free_port()
            if self.port + max(BACKEND_PORT_OFFSETS) > 65535 or not all(
                _is_free(self.port + offset) for offset in BACKEND_PORT_OFFSETS
            ):
                continue
            self.base = Path(tempfile.mkdtemp(prefix="homediag-swift-")) / "s3"
            started = subprocess.run(["bash", str(SCRIPT), "start"], env=self._env(), capture_output=True, text=True)
            if started.returncode == 0:
                return
            shutil.rmtree(self.base.parent, ignore_errors=True)  # the script cleaned its own part already
            if "already in use" not in started.stderr:
                raise SwiftError(f"swift did not start: {started.stderr[-2000:]}")
        raise SwiftError("no free ports for swift")

    def stop(self) -> None:
        if self.base is None:
            return
        subprocess.run(["bash", str(SCRIPT), "stop"], env=self._env(), capture_output=True, check=False)
        shutil.rmtree(self.base.parent, ignore_errors=True)
        self.base = None
