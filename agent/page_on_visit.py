"""The one-click page's port, open from the start; the page itself loaded when the first visitor connects.

The page's web server (aiohttp) and module weigh about 13 MB resident (docs/performance.md), and most hubs'
pages are opened rarely, if ever. ``PageOnVisit`` binds and listens on ``web.host:web.port`` at start, as the
page would, so the port is taken and a visitor is never refused: the first connection waits in the listen
backlog while the page loads (once, a fraction of a second) and is then accepted and served by the page, which
keeps the same listening sockets from then on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Self

from shared.aio import cancel_and_wait

from .config import AgentConfig

if TYPE_CHECKING:
    from .web import OneClickPage

_LOGGER = logging.getLogger(__name__)
BACKLOG = 100


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address ``host`` resolves to, as asyncio's ``create_server`` makes them."""
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
            port = port or sock.getsockname()[1]  # a chosen port: the same one on every address
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class PageOnVisit:
    """Async context manager: the listening port now, the ``OneClickPage`` behind it at the first connection."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.page: OneClickPage | None = None
        self.port: int | None = None
        self._sockets: list[socket.socket] = []
        self._visited = asyncio.Event()
        self._opener: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._sockets = listening_sockets(self.config.web.host, self.config.web.port)
        self.port = self._sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            loop.add_reader(sock.fileno(), self._visited.set)
        self._opener = asyncio.create_task(self._open_on_visit(), name="one-click-page-on-visit")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._opener)
        self._stop_watching()
        if self.page is not None:
            await self.page.__aexit__(*exc)
        for sock in self._sockets:
            sock.close()

    def _stop_watching(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            loop.remove_reader(sock.fileno())

    async def _open_on_visit(self) -> None:
        await self._visited.wait()
        self._stop_watching()
        from .web import OneClickPage  # the page's aiohttp server: at the first visitor, not at start

        page = OneClickPage(self.config, sockets=self._sockets)
        try:
            await page.__aenter__()
        except Exception:  # the agent's own work goes on; a visitor is refused rather than left waiting
            _LOGGER.exception("one-click page could not be loaded; its port is closed")
            for sock in self._sockets:
                sock.close()
            self._sockets = []
            return
        self.page = page
        _LOGGER.debug("one-click page loaded for its first visitor")
