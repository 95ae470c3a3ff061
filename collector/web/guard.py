"""How hard a client may guess passwords: ``LoginThrottle`` holds wrong passwords as token buckets per account
and per client address (the address as ``collector.forwarded`` believes it)."""

from __future__ import annotations

from aiohttp import web

from ..ratelimit import Limiter


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
