"""A loopback TCP proxy that can hold back the server's answer: "the request arrived, the reply is in flight".

Used to kill an agent at the worst moment of an upload: the collector has stored the bundle and answered,
but the agent never heard it. ``answer_held`` is set when an answer is waiting; ``release()`` lets every
held and future answer through.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self


class HoldingProxy:
    """``async with HoldingProxy(upstream_port) as proxy``: listens on ``proxy.port`` (127.0.0.1)."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1", *, hold: bool = True) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.answer_held = asyncio.Event()
        self._released = asyncio.Event()
        if not hold:
            self._released.set()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release(self) -> None:
        self._released.set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        for pipe in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError):
                await pipe
        await self._server.wait_closed()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        # Handler tasks are the server's; the pipes they start are ours and are awaited in __aexit__.
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        pipes = [
            asyncio.create_task(self._pipe(client_reader, upstream_writer, hold=False)),
            asyncio.create_task(self._pipe(upstream_reader, client_writer, hold=True)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)
            for writer in (client_writer, upstream_writer):
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, hold: bool) -> None:
        try:
            while data := await reader.read(65536):
                if hold and not self._released.is_set():
                    self.answer_held.set()
                    await self._released.wait()
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass
