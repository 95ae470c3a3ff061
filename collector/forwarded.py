"""What a request's forwarding headers may be believed: ``X-Forwarded-Proto`` and ``X-Forwarded-For`` only from a
configured trusted proxy; from anyone else they are claims the client made up. Used by the web UI (cookies,
sign-in throttling) and the metrics endpoint (loopback only), so it belongs to neither.
"""

from __future__ import annotations

from ipaddress import ip_address

from aiohttp import web

from .config import WebConfig


def _from_trusted_proxy(request: web.Request, config: WebConfig) -> bool:
    try:
        peer = ip_address(request.remote or "")
    except ValueError:
        return False  # a Unix socket or an unknown peer: not a proxy we know
    return any(peer in network for network in config.trusted_proxies)


def is_https(request: web.Request, config: WebConfig) -> bool:
    """Served over TLS here, or behind a trusted proxy that says its client used https."""
    if request.secure:  # aiohttp decides this from the connection itself, not from headers
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return proto == "https" and _from_trusted_proxy(request, config)


def client_address(request: web.Request, config: WebConfig) -> str:
    """The client's address: the peer, or the one a trusted proxy appended last to ``X-Forwarded-For``."""
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and _from_trusted_proxy(request, config):
        return forwarded.split(",")[-1].strip()
    return request.remote or "-"
