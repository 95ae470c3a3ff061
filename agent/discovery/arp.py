"""ARP / neighbour discovery for devices that announce nothing, only on the configured interfaces.

With raw-socket privileges the adapter sends one ARP who-has per address of each configured interface's
IPv4 subnet (at most a /24 around the hub: larger subnets are not swept) with scapy, and merges the answers
by MAC. Without them it degrades to reading the kernel's neighbour table (``/proc/net/arp``) and says so once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from pathlib import Path
from typing import Self

import psutil

from shared.aio import cancel_and_wait, started

from ..clock import Clock
from ..config import AgentConfig
from ..evidence import EvidenceSink
from ..facts import parse_proc_arp
from ..inventory import ARP_SOURCE, DeviceUpdate, InventoryStore, normalise_mac

_LOGGER = logging.getLogger(__name__)
SOURCE = ARP_SOURCE
SWEEP_EVERY_S = 300.0
MAX_SWEEP_PREFIX = 24


def sweep_targets(address: str, netmask: str) -> list[str]:
    """The other addresses of the interface's subnet, narrowed to the /24 around it."""
    network = ipaddress.IPv4Network(f"{address}/{netmask}", strict=False)
    if network.prefixlen < MAX_SWEEP_PREFIX:
        network = ipaddress.IPv4Network(f"{address}/{MAX_SWEEP_PREFIX}", strict=False)
    return [str(host) for host in network.hosts() if str(host) != address]


def neighbour_updates(pairs: list[tuple[str, str]], interface: str) -> list[DeviceUpdate]:
    updates = []
    for ip, mac in pairs:
        normal = normalise_mac(mac)
        if normal is None or normal == "00:00:00:00:00:00":
            continue
        updates.append(
            DeviceUpdate(
                keys=(f"mac:{normal}",), source=SOURCE, macs=(normal,), ips=(ip,), attributes={"interface": interface}
            )
        )
    return updates


def scapy_sweep(interface: str, targets: list[str], timeout: float) -> list[tuple[str, str]]:
    """ARP who-has for every target on ``interface``; (ip, mac) of the answers. Blocking: run in a thread."""
    from scapy.layers.l2 import ARP, Ether  # imported here: scapy is heavy and only this adapter needs it
    from scapy.sendrecv import srp

    answered, _ = srp(
        Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=targets), iface=interface, timeout=timeout, verbose=False
    )
    return [(reply.psrc, reply.hwsrc) for _, reply in answered]


def kernel_neighbours(interface: str, proc_arp: Path = Path("/proc/net/arp")) -> list[tuple[str, str]]:
    try:
        rows = parse_proc_arp(proc_arp.read_text())
    except OSError:
        return []
    return [(row["ip"], row["mac"]) for row in rows if row.get("interface") == interface and row.get("mac")]


class ArpDiscovery:
    def __init__(self, config: AgentConfig, sink: EvidenceSink, inventory: InventoryStore, clock: Clock) -> None:
        self._config = config
        self._sink = sink
        self._inventory = inventory
        self._clock = clock
        self.raw_sockets: bool | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return started(self._task)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="arp-discovery")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            for interface in self._config.network.interfaces:
                pairs = await asyncio.to_thread(self._sweep, interface)
                at = self._clock.now()
                for update in neighbour_updates(pairs, interface):
                    for event in self._inventory.observe(update, at):
                        self._sink.event(event)
            await asyncio.sleep(SWEEP_EVERY_S)

    def _sweep(self, interface: str) -> list[tuple[str, str]]:
        addresses = [
            (a.address, a.netmask)
            for a in psutil.net_if_addrs().get(interface, [])
            if a.family.name == "AF_INET" and a.netmask
        ]
        if self.raw_sockets is not False and addresses:
            try:
                pairs = []
                for address, netmask in addresses:
                    pairs += scapy_sweep(interface, sweep_targets(address, netmask), self._config.probes.timeout_s * 2)
                self.raw_sockets = True
                return pairs
            except (PermissionError, OSError, ImportError) as exc:
                self.raw_sockets = False
                _LOGGER.warning("ARP sweep unavailable (%s): reading the kernel's neighbour table instead", exc)
        return kernel_neighbours(interface)
