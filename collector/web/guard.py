"""What the web UI trusts about a request, and how hard it may guess passwords.

A forwarding header (``X-Forwarded-Proto``, ``X-Forwarded-For``) is believed only from a configured trusted
proxy; from anyone else it is a claim the client made up. ``LoginThrottle`` holds wrong passwords as token
buckets per account and per client address: pure arithmetic over the time the caller passes in.
"""

from __future__ import annotations

from ipaddress import ip_address

from aiohttp import web

from ..config import WebConfig
from ..ratelimit import Limiter


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


class LoginThrottle:
    """Wrong passwords per account and per address; either bucket empty means wait."""

    def __init__(self, accounts: Limiter, addresses: Limiter) -> None:
        self._accounts, self._addresses = accounts, addresses

    async def retry_after(self, account: str, address: str) -> float:
        """0 when a sign-in may be tried now, else the seconds until one may."""
        return max(await self._accounts.retry_after(account), await self._addresses.retry_after(address))

    async def failed(self, account: str, address: str) -> None:
        await self._accounts.consume(account)
        await self._addresses.consume(address)


LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
