"""The agent's optional Prometheus endpoint: ``http://127.0.0.1:<port>/metrics`` (off by default).

For a hub whose owner runs Prometheus (or a node exporter's textfile collector) on the hub itself: bundles
waiting in the outbox, refused ones kept aside, bundles made in this run, devices in the inventory, whether the
collector and the support broker are reachable. Bound to the loopback interface only, so nothing on the home
network can read it; values are read when scraped. Imported only when enabled (aiohttp and prometheus_client
stay out of a hub that does not use it).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, Self

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

if TYPE_CHECKING:
    from .inventory import InventoryStore
    from .live import LiveChannel
    from .outbox import Outbox

LOOPBACK = "127.0.0.1"


class ObservedAgent(Protocol):
    """What the endpoint reads from the running agent (``agent.runtime.AgentRuntime``); a protocol rather than
    the class, because the runtime imports this module when the endpoint is enabled."""

    outbox: Outbox | None
    captured: list[tuple[str, str]]
    inventory: InventoryStore | None
    live: LiveChannel | None


class MetricsEndpoint:
    """An async context manager that owns the endpoint's server."""

    def __init__(self, runtime: ObservedAgent, port: int) -> None:
        self._runtime = runtime
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.registry = CollectorRegistry(auto_describe=True)

        def gauge(name: str, documentation: str) -> Gauge:
            return Gauge(f"homediag_agent_{name}", documentation, registry=self.registry)

        self._pending = gauge("outbox_pending_bundles", "Bundles not yet delivered to the collector")
        self._rejected = gauge("outbox_rejected_bundles", "Bundles the collector refused, kept aside")
        self._captured = gauge("bundles_captured", "Bundles made since the agent started")
        self._devices = gauge("inventory_devices", "Devices in the inventory")
        self._collector_up = gauge("collector_reachable", "1 when the last upload attempt reached the collector")
        self._live_up = gauge("live_connected", "1 when connected to the support broker (absent: live not set up)")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, self._requested_port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        runtime = self._runtime
        outbox = runtime.outbox
        if outbox is not None:
            self._pending.set(len(await outbox.pending()))
            self._rejected.set(len(await asyncio.to_thread(outbox.spool.rejected)))
            self._collector_up.set(0 if outbox.unreachable is not None else 1)
        self._captured.set(len(runtime.captured))
        self._devices.set(len(runtime.inventory) if runtime.inventory is not None else 0)
        if runtime.live is not None:
            self._live_up.set(1 if runtime.live.connected.is_set() else 0)
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
