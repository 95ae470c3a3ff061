"""mDNS / DNS-SD discovery on python-zeroconf's asyncio API, bound only to the configured addresses.

Service types come from the DNS-SD meta-query (``_services._dns-sd._udp.local.``) plus a list of known
smart-home types. ``parse_service`` (pure) decodes TXT records into model, firmware and ids for HomeKit,
Matter, Google Cast, Hue, ESPHome, Shelly, Sonos (``bootseq`` as a boot counter), WLED, AirPlay and IPP;
a goodbye packet marks the device offline (source ``mdns``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import psutil
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf, AsyncZeroconfServiceTypes

from shared.aio import cancel_and_wait

from ..clock import Clock
from ..config import AgentConfig
from ..evidence import EvidenceSink
from ..inventory import DeviceUpdate, InventoryStore, normalise_mac

_LOGGER = logging.getLogger(__name__)
SOURCE = "mdns"
KNOWN_TYPES = (
    "_hap._tcp.local.",
    "_hap._udp.local.",
    "_matter._tcp.local.",
    "_matterc._udp.local.",
    "_googlecast._tcp.local.",
    "_hue._tcp.local.",
    "_esphomelib._tcp.local.",
    "_shelly._tcp.local.",
    "_sonos._tcp.local.",
    "_wled._tcp.local.",
    "_airplay._tcp.local.",
    "_ipp._tcp.local.",
    "_miio._udp.local.",
    "_http._tcp.local.",
)
FAMILIES = {
    "_hap._tcp.local.": "homekit",
    "_hap._udp.local.": "homekit",
    "_matter._tcp.local.": "matter",
    "_matterc._udp.local.": "matter",
    "_googlecast._tcp.local.": "google_cast",
    "_hue._tcp.local.": "hue_bridge",
    "_esphomelib._tcp.local.": "esphome",
    "_shelly._tcp.local.": "shelly_gen2",
    "_sonos._tcp.local.": "sonos",
    "_wled._tcp.local.": "wled",
    "_airplay._tcp.local.": "airplay",
    "_ipp._tcp.local.": "printer",
}
RESOLVE_TIMEOUT_MS = 3000
TYPE_REFRESH_S = 60.0


@dataclass(frozen=True)
class Service:
    type: str
    name: str
    properties: Mapping[str, str]
    addresses: tuple[str, ...] = ()
    port: int | None = None
    server: str | None = None


def decode_properties(raw: Mapping[bytes, bytes | None]) -> dict[str, str]:
    decoded = {}
    for key, value in raw.items():
        try:
            decoded[key.decode("utf-8").lower()] = "" if value is None else value.decode("utf-8", errors="replace")
        except (AttributeError, UnicodeDecodeError):
            continue
    return decoded


def _instance(service: Service) -> str:
    return service.name[: -len(service.type) - 1] if service.name.endswith("." + service.type) else service.name


def parse_service(service: Service) -> DeviceUpdate | None:
    """What a resolved service says about its device; None when it says nothing we can key on."""
    txt, instance = service.properties, _instance(service)
    family = FAMILIES.get(service.type)
    keys: list[str] = []
    macs: list[str] = []
    fields: dict[str, Any] = {}
    if service.type.startswith("_hap."):
        if txt.get("id"):
            keys.append(f"hap:{txt['id'].lower()}")
        fields.update(model=txt.get("md"), attributes={"hap_config": txt.get("c#"), "paired": txt.get("sf") == "0"})
    elif service.type.startswith("_matter"):
        vendor_product = txt.get("vp", "")
        fields.update(
            name=txt.get("dn"), attributes={"vendor_product": vendor_product, "commissioning_mode": txt.get("cm")}
        )
        keys.append(f"matter:{instance.lower()}")
    elif service.type == "_googlecast._tcp.local.":
        if txt.get("id"):
            keys.append(f"cast:{txt['id'].lower()}")
        fields.update(model=txt.get("md"), name=txt.get("fn"), manufacturer="Google")
    elif service.type == "_hue._tcp.local.":
        if txt.get("bridgeid"):
            keys.append(f"hue:{txt['bridgeid'].lower()}")
        fields.update(model=txt.get("modelid"), manufacturer="Signify")
    elif service.type == "_esphomelib._tcp.local.":
        keys.append(f"esphome:{instance}")
        if txt.get("mac"):
            macs.append(txt["mac"])
        fields.update(
            firmware=txt.get("version"), model=txt.get("board"), name=txt.get("friendly_name"), manufacturer="Espressif"
        )
    elif service.type == "_shelly._tcp.local.":
        keys.append(f"shelly:{instance}")
        fields.update(
            firmware=txt.get("ver"),
            model=txt.get("app"),
            manufacturer="Shelly",
            family="shelly_gen2" if txt.get("gen", "2") != "1" else "shelly_gen1",
        )
    elif service.type == "_sonos._tcp.local.":
        keys.append(f"sonos:{instance.lower()}")
        boot = txt.get("bootseq", "")
        fields.update(model=txt.get("model"), manufacturer="Sonos", boot_seq=int(boot) if boot.isdecimal() else None)
    elif service.type == "_wled._tcp.local.":
        if txt.get("mac"):
            macs.append(txt["mac"])
        fields.update(manufacturer="WLED")
    elif service.type == "_airplay._tcp.local.":
        if txt.get("deviceid"):
            macs.append(txt["deviceid"])
        fields.update(model=txt.get("model"), firmware=txt.get("srcvers"))
    elif service.type == "_ipp._tcp.local.":
        fields.update(model=txt.get("ty"), name=txt.get("note") or None)
    macs = [m for m in macs if normalise_mac(m)]
    if not keys and not macs:
        if not service.server:
            return None
        keys.append(f"host:{service.server.rstrip('.').lower()}")
    fields.setdefault("family", family)
    fields.setdefault("name", instance)
    attributes = fields.pop("attributes", {})
    return DeviceUpdate(
        keys=tuple(keys or [f"mac:{normalise_mac(macs[0])}"]),
        source=SOURCE,
        macs=tuple(macs),
        ips=service.addresses,
        services=(service.type,),
        available=True,
        attributes={k: v for k, v in attributes.items() if v not in (None, "")},
        message=f"{service.type} {instance} {dict(txt)}"[:300],
        **{k: v for k, v in fields.items() if v not in (None, "")},
    )


def bind_addresses(config: AgentConfig) -> list[str]:
    """The configured mDNS addresses, else the IPv4 addresses of the configured interfaces; never 'all'."""
    if config.discovery.mdns_addresses:
        return list(config.discovery.mdns_addresses)
    found = []
    addresses = psutil.net_if_addrs()
    for interface in config.network.interfaces:
        found += [a.address for a in addresses.get(interface, []) if a.family.name == "AF_INET"]
    return found


class MdnsDiscovery:
    """Async context manager: a zeroconf instance on the configured addresses, its browsers and resolver task."""

    def __init__(
        self, config: AgentConfig, sink: EvidenceSink, inventory: InventoryStore, clock: Clock, addresses: list[str]
    ) -> None:
        self._config = config
        self._sink = sink
        self._inventory = inventory
        self._clock = clock
        self._addresses = addresses
        self._zeroconf: AsyncZeroconf | None = None
        self._browsers: dict[str, AsyncServiceBrowser] = {}
        self._changes: asyncio.Queue[tuple[str, str, ServiceStateChange]] = asyncio.Queue(10_000)
        self._known: dict[str, tuple[str, ...]] = {}  # service name → keys of its device
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return list(self._tasks)

    async def __aenter__(self) -> Self:
        self._zeroconf = AsyncZeroconf(interfaces=self._addresses, ip_version=IPVersion.V4Only)
        self._browse([*KNOWN_TYPES, *self._config.discovery.mdns_extra_types])
        self._tasks = [
            asyncio.create_task(self._resolve_changes(), name="mdns-resolver"),
            asyncio.create_task(self._enumerate_types(), name="mdns-types"),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        for browser in self._browsers.values():
            await browser.async_cancel()
        assert self._zeroconf is not None
        await self._zeroconf.async_close()

    def _browse(self, types: list[str]) -> None:
        assert self._zeroconf is not None
        for service_type in types:
            if service_type not in self._browsers:
                self._browsers[service_type] = AsyncServiceBrowser(
                    self._zeroconf.zeroconf, [service_type], handlers=[self._on_change]
                )

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        try:
            self._changes.put_nowait((service_type, name, state_change))
        except asyncio.QueueFull:
            _LOGGER.debug("mDNS change dropped: queue full")

    async def _enumerate_types(self) -> None:
        assert self._zeroconf is not None
        while True:
            try:
                found = await AsyncZeroconfServiceTypes.async_find(aiozc=self._zeroconf, timeout=2.0)
            except OSError as exc:
                _LOGGER.debug("mDNS type enumeration failed: %s", exc)
                found = ()
            self._browse([t for t in found if t.endswith("._tcp.local.") or t.endswith("._udp.local.")])
            await asyncio.sleep(TYPE_REFRESH_S)

    async def _resolve_changes(self) -> None:
        assert self._zeroconf is not None
        while True:
            service_type, name, change = await self._changes.get()
            at = self._clock.now()
            if change is ServiceStateChange.Removed:
                keys = self._known.pop(name, None)
                if keys:
                    self._apply(DeviceUpdate(keys=keys, source=SOURCE, available=False, message=f"goodbye {name}"), at)
                continue
            info = AsyncServiceInfo(service_type, name)
            if not await info.async_request(self._zeroconf.zeroconf, RESOLVE_TIMEOUT_MS):
                continue
            update = parse_service(
                Service(
                    service_type,
                    name,
                    decode_properties(info.properties),
                    tuple(info.parsed_addresses(IPVersion.V4Only)),
                    info.port,
                    info.server,
                )
            )
            if update is not None:
                self._known[name] = update.keys
                self._apply(update, at)

    def _apply(self, update: DeviceUpdate, at: Any) -> None:
        for event in self._inventory.observe(update, at):
            self._sink.event(event)
