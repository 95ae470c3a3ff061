"""Stopping the collector (SIGTERM, as systemd does) while a hub's upload is stalled half-way."""

from __future__ import annotations

import socket
from pathlib import Path

from collector.cli import STOP_GRACE_S
from lab.collector_process import CollectorProcess

UNIT = Path(__file__).parents[2] / "packaging" / "homediag-collector@.service"
UNIT_STOP_TIMEOUT_S = 20  # its TimeoutStopSec


def test_a_stalled_upload_does_not_hold_the_stop(tmp_path: Path) -> None:
    """An upload stalled half-way (a slow link, or a client trickling bytes on purpose) gets ``STOP_GRACE_S`` to
    finish, not aiohttp's 60 s: the unit's stop timeout would SIGKILL the collector first and skip closing the
    store. The collector leaves by itself, says so, and the stalled client's connection is closed."""
    assert STOP_GRACE_S < UNIT_STOP_TIMEOUT_S / 2
    assert f"\nTimeoutStopSec={UNIT_STOP_TIMEOUT_S}\n" in UNIT.read_text()
    collector = CollectorProcess(tmp_path / "collector")
    collector.start()
    try:
        with socket.create_connection((collector.host, collector.port), timeout=30) as stalled:
            stalled.sendall(
                b"POST /api/v1/bundles HTTP/1.1\r\nHost: hub\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n"
                b"Content-Type: application/vnd.homediag.bundle+gzip\r\n\r\n"
            )
            assert stalled.recv(64).startswith(b"HTTP/1.1 100 Continue")  # the request is in the server's hands
            stalled.sendall(b"\x1f\x8b" + bytes(1000))  # and then nothing more
            code = collector.stop()  # SIGKILL (and None) after 10 s
            assert stalled.recv(65536) == b""  # closed, never answered
    finally:
        collector.kill()
    assert code == 0
    assert collector.log_tail().rstrip().endswith("collector stopped")
