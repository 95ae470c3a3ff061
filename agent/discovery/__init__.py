"""Discovery: adapters that find the home's devices and feed one inventory and the timeline.

``Discovery`` runs the enabled adapters for as long as it is entered: MQTT families through the home broker
(``mqtt.py``, one parser module per family), mDNS (``mdns.py``) on the configured addresses, and ARP
(``arp.py``) on the configured interfaces.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Self

from ..clock import Clock
from ..config import AgentConfig
from ..evidence import EvidenceSink
from ..inventory import InventoryStore
from .arp import ArpDiscovery
from .mdns import MdnsDiscovery, bind_addresses
from .mqtt import MqttDiscovery


class Discovery:
    def __init__(
        self,
        config: AgentConfig,
        sink: EvidenceSink,
        inventory: InventoryStore,
        *,
        clock: Clock | None = None,
        hand_off_s: float = 0.0,
    ) -> None:
        """``hand_off_s``: how long a burst of MQTT messages gathers before the loop reads it (``MqttSession``;
        0: at once)."""
        self._config = config
        self._hand_off_s = hand_off_s
        self._sink = sink
        self._inventory = inventory
        self._clock = clock or Clock()
        self._stack = AsyncExitStack()
        self.mqtt: MqttDiscovery | None = None
        self.mdns: MdnsDiscovery | None = None
        self.arp: ArpDiscovery | None = None

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return [task for adapter in (self.mqtt, self.mdns, self.arp) if adapter for task in adapter.background_tasks]

    async def __aenter__(self) -> Self:
        if self._config.broker.url is not None:
            self.mqtt = await self._stack.enter_async_context(
                MqttDiscovery(self._config, self._sink, self._inventory, self._clock, hand_off_s=self._hand_off_s)
            )
        addresses = bind_addresses(self._config) if self._config.discovery.mdns else []
        if addresses:
            self.mdns = await self._stack.enter_async_context(
                MdnsDiscovery(self._config, self._sink, self._inventory, self._clock, addresses)
            )
        if self._config.discovery.arp and self._config.network.interfaces:
            self.arp = await self._stack.enter_async_context(
                ArpDiscovery(self._config, self._sink, self._inventory, self._clock)
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
