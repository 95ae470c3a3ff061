"""Live state inside the collector: the broker accounts, the relay, and the credentials handed out at enrolment.

``LiveService`` is created in ``cleanup_ctx`` when ``live.url`` is configured. It keeps the support broker's
password and ACL files (``collector.live_broker.BrokerAccounts``), gives the collector's own user a password
when none is configured, and owns the ``LiveRelay`` connection.
"""

from __future__ import annotations

import asyncio
import secrets
from contextlib import AsyncExitStack
from typing import Self

from shared.live import LiveGrant

from .config import CollectorConfig
from .live import LiveRelay
from .live_broker import BrokerAccounts


class LiveService:
    def __init__(self, config: CollectorConfig) -> None:
        live = config.live
        assert live.url is not None
        self._config = live
        self.agent_url = live.agent_url or live.url
        self.request_timeout_s = live.request_timeout_s
        self.accounts = BrokerAccounts(
            live.accounts_dir or config.data_dir / "broker",
            live.username,
            pid_file=live.pid_file,
            reload_command=live.reload_command,
        )
        self._stack = AsyncExitStack()
        self.relay: LiveRelay | None = None

    async def __aenter__(self) -> Self:
        password = self._config.password
        if password is None:
            password = secrets.token_urlsafe(24)
            await asyncio.to_thread(self.accounts.set_password, self._config.username, password)
        assert self._config.url is not None
        relay = LiveRelay(self._config.url, self._config.username, password, ca_file=self._config.ca_file)
        self.relay = await self._stack.enter_async_context(relay)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        self.relay = None

    async def grant(self, agent_id: str) -> LiveGrant:
        """A fresh broker password for a newly enrolled agent; the broker reloads its password file."""
        password = secrets.token_urlsafe(24)
        await asyncio.to_thread(self.accounts.set_password, agent_id, password)
        return LiveGrant(broker_url=self.agent_url, username=agent_id, password=password)

    async def revoke(self, agent_id: str) -> None:
        await asyncio.to_thread(self.accounts.remove, agent_id)
