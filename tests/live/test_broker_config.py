"""``homediag-collector broker config`` prints a listener a real Mosquitto runs, TLS-only when asked."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from collector.live_broker import render_listener_auth
from lab.certs import make_server_certificate
from lab.mosquitto import free_port, wait_for_port
from tests.nodelay import peer_nodelay

pytestmark = pytest.mark.broker

COLLECTOR = str(Path(sys.executable).with_name("homediag-collector"))


def test_the_printed_tls_listener_runs_in_mosquitto_and_speaks_only_tls(tmp_path: Path) -> None:
    certificate = make_server_certificate(tmp_path / "tls")
    port = free_port()
    printed = subprocess.run(
        [
            COLLECTOR,
            "--data-dir",
            str(tmp_path / "collector"),
            "broker",
            "config",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--certfile",
            str(certificate.cert_file),
            "--keyfile",
            str(certificate.key_file),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"certfile {certificate.cert_file}" in printed.stdout
    assert "use_username_as_clientid true\n" in printed.stdout  # the rules the attack test runs against
    accounts_dir = tmp_path / "collector" / "broker"
    assert (
        render_listener_auth(
            password_file=(accounts_dir / "passwords").resolve(), acl_file=(accounts_dir / "acl").resolve()
        )
        in printed.stdout
    )
    assert "topic read homediag/agents/+/resp/homediag-collector" in (accounts_dir / "acl").read_text()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(printed.stdout + "persistence false\n" + ("user root\n" if os.geteuid() == 0 else ""))
    broker = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port("127.0.0.1", port, 10)
        context = ssl.create_default_context(cafile=str(certificate.ca_file))
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() is not None  # the handshake verified the broker's certificate
            assert peer_nodelay(broker.pid, tls)  # set_tcp_nodelay: answers leave without Nagle's delay
        with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
            plain.sendall(bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 0]))  # MQTT 3.1.1 CONNECT
            try:
                reply = plain.recv(4)
            except ConnectionResetError:
                reply = b""
            assert not reply.startswith(b"\x20"), "a CONNACK in the clear from a TLS-only listener"
    finally:
        broker.terminate()
        broker.wait(10)
        assert broker.stderr is not None
        broker.stderr.close()

    unpaired = subprocess.run(
        [
            COLLECTOR,
            "--data-dir",
            str(tmp_path / "collector"),
            "broker",
            "config",
            "--certfile",
            str(certificate.cert_file),
        ],
        capture_output=True,
        text=True,
    )
    assert unpaired.returncode == 2 and "go together" in unpaired.stderr
