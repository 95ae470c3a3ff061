"""MQTT broker URLs, as every MQTT client here reads them.

``mqtt://host[:1883]`` is the clear; ``mqtts://host[:8883]`` is TLS with the broker's certificate verified: it
must chain to the given CA file (else to the system's CAs) and name the host. The support broker crosses the
internet, so production uses ``mqtts://``; a home broker on the LAN often does not.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}
TLS_SCHEMES = frozenset({"mqtts", "ssl"})


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """The address in ``url``; ``ValueError`` saying what a broker URL looks like if it is not one."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port == -1:
        raise ValueError(f"a broker URL looks like mqtt://host:port or mqtts://host:port, not {url!r}")
    return BrokerAddress(parts.hostname, port or DEFAULT_PORTS[parts.scheme], parts.scheme in TLS_SCHEMES)


def checked_broker_url(url: str | None) -> str | None:
    """For pydantic validators: the URL unchanged if it parses."""
    if url is not None:
        parse_broker_url(url)
    return url


class _HandshakingContext(ssl.SSLContext):
    """Completes the handshake in ``wrap_socket`` and closes the socket if it fails: paho (2.2) handshakes after
    wrapping and leaks the socket when that fails (an untrusted certificate), once per reconnect attempt."""

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # type: ignore[override]
        wrapped = super().wrap_socket(sock, *args, **kwargs)
        try:
            wrapped.do_handshake()
        except BaseException:
            wrapped.close()
            raise
        return wrapped


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verify the broker's certificate and host name against ``ca_file``, else the system's CAs."""
    context = _HandshakingContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    else:
        context.load_default_certs()
    return context


def secure(client: mqtt.Client, address: BrokerAddress, ca_file: Path | None) -> None:
    """Turn on TLS for an ``mqtts://`` address (before ``connect``); nothing for ``mqtt://``."""
    if address.tls:
        client.tls_set_context(tls_context(ca_file))
