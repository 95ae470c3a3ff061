"""The router's SSDP announcements: a changed ``BOOTID.UPNP.ORG`` says the router rebooted.

UPnP 1.1 devices (miniupnpd on most home routers) multicast ``ssdp:alive`` NOTIFYs at start and every few
minutes, each carrying a BOOTID that increases with every boot. The agent joins 239.255.255.250 on the
configured interfaces' addresses and listens; the only thing it sends is a unicast M-SEARCH to the configured
gateway (at start, then every ``SEARCH_EVERY_S``), so it knows the current BOOTID without waiting for the next
announcement. Announcements from anyone but the configured gateway are ignored. A ``byebye`` just before an outage marks a graceful (scheduled) reboot.
When the network comes back (``recheck``) it asks again at once (a few times, ``RECHECK_EVERY_S`` apart): an
answer with the same BOOTID is recorded as ``same`` — the router stayed up, so the outage was the hub's own.
``parse_headers``, ``gateway_announcement`` and ``BootIdTracker`` are pure.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from shared.aio import cancel_and_wait, started
from shared.models import EventKind, EventState, TimelineEvent

from ..evidence import EvidenceSink

_LOGGER = logging.getLogger(__name__)

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
SEARCH_TARGET = "upnp:rootdevice"
SEARCH_EVERY_S = 300.0
RECHECK_EVERY_S = 3.0
RECHECK_TRIES = 4


def search_request(host: str, target: str = SEARCH_TARGET) -> bytes:
    """A unicast M-SEARCH (UPnP 1.1 §1.3.2: no MX, HOST is the device's address)."""
    lines = ["M-SEARCH * HTTP/1.1", f"HOST: {host}:{SSDP_PORT}", 'MAN: "ssdp:discover"', f"ST: {target}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_headers(datagram: bytes) -> tuple[str, dict[str, str]]:
    """(start line, headers with upper-case names) of an SSDP datagram."""
    start, *rest = datagram.decode("utf-8", errors="replace").split("\r\n")
    headers = {}
    for line in rest:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().upper()] = value.strip()
    return start, headers


@dataclass(frozen=True)
class Announcement:
    alive: bool  # False: ssdp:byebye, the router's UPnP stack is shutting down gracefully
    boot_id: int | None


def gateway_announcement(datagram: bytes, source: str, gateway: str) -> Announcement | None:
    """An ``ssdp:alive``/``ssdp:byebye`` NOTIFY (or search response) sent by the gateway; None for anything else."""
    if source != gateway:
        return None
    start, headers = parse_headers(datagram)
    nts = (
        headers.get("NTS") if start.startswith("NOTIFY") else "ssdp:alive" if start.startswith("HTTP/1.1 200") else None
    )
    if nts not in ("ssdp:alive", "ssdp:byebye"):
        return None
    return Announcement(nts == "ssdp:alive", _boot_id(headers.get("BOOTID.UPNP.ORG", "")))


def _boot_id(value: str) -> int | None:
    """UPnP 1.1 §1.2: BOOTID.UPNP.ORG is a non-negative 31-bit decimal; anything else is no boot id
    ('²' passes ``str.isdigit`` but not ``int``; ten thousand digits pass both, slowly)."""
    if not (value.isascii() and value.isdigit() and len(value) <= 10):
        return None
    number = int(value)
    return number if number < 2**31 else None


@dataclass
class BootIdTracker:
    """Turns announcements into events: the first BOOTID seen, each change, and each goodbye."""

    last: int | None = None
    leaving: bool = False
    rechecking: bool = False  # the network just came back: is it the router we knew?

    def observe(self, announcement: Announcement, at: datetime) -> TimelineEvent | None:
        if not announcement.alive:  # the daemon repeats byebye per service type: report it once
            if self.leaving:
                return None
            self.leaving = True
            return self._event(EventState.BYEBYE, at, announcement.boot_id, self.last)
        self.leaving = False
        if announcement.boot_id is None:
            return None
        rechecking, self.rechecking = self.rechecking, False
        if announcement.boot_id == self.last:
            return self._event(EventState.SAME, at, self.last, self.last) if rechecking else None
        previous, self.last = self.last, announcement.boot_id
        return self._event(
            EventState.SEEN if previous is None else EventState.CHANGED, at, announcement.boot_id, previous
        )

    @staticmethod
    def _event(state: EventState, at: datetime, boot_id: int | None, previous: int | None) -> TimelineEvent:
        return TimelineEvent(
            ts=at,
            kind=EventKind.ROUTER_BOOT_ID,
            state=state,
            source="monitor.ssdp",
            detail={"boot_id": boot_id, "previous": previous},
        )


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, str], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self._on_datagram(data, addr[0])


def _listening_socket(addresses: list[str]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((SSDP_GROUP, SSDP_PORT))  # only the group's datagrams, not unicast to :1900
        for address in addresses:
            membership = struct.pack("4s4s", socket.inet_aton(SSDP_GROUP), socket.inet_aton(address))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class SsdpListener:
    """Async context manager: listens on ``addresses`` while entered, reports the gateway's BOOTID changes."""

    def __init__(self, addresses: list[str], gateway: str, sink: EvidenceSink, now: Callable[[], datetime]) -> None:
        self._addresses = addresses
        self._gateway = gateway
        self._sink = sink
        self._now = now
        self.tracker = BootIdTracker()
        self._transports: list[asyncio.DatagramTransport] = []
        self._task: asyncio.Task[None] | None = None
        self._recheck = asyncio.Event()

    def recheck(self) -> None:
        """The network is back: ask the gateway for its BOOTID now (only if it ever said one)."""
        if self.tracker.last is not None:
            self._recheck.set()

    def _on_datagram(self, data: bytes, source: str) -> None:
        announcement = gateway_announcement(data, source, self._gateway)
        if announcement is None:
            return
        event = self.tracker.observe(announcement, self._now())
        if event is not None:
            self._sink.event(event)

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return started(self._task)

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        try:
            sock = _listening_socket(self._addresses)
        except OSError as exc:
            _LOGGER.warning("not listening for SSDP announcements on %s: %s", self._addresses, exc)
        else:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self._on_datagram), sock=sock)
            self._transports.append(transport)
        search, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._on_datagram), family=socket.AF_INET, local_addr=("0.0.0.0", 0)
        )
        self._transports.append(search)
        self._task = asyncio.create_task(self._search(search), name="ssdp-search")
        return self

    def _send_search(self, transport: asyncio.DatagramTransport) -> None:
        try:
            transport.sendto(search_request(self._gateway), (self._gateway, SSDP_PORT))
        except OSError as exc:  # the link may be down: the next round repeats it
            _LOGGER.debug("SSDP search to %s: %s", self._gateway, exc)

    async def _search(self, transport: asyncio.DatagramTransport) -> None:
        self._send_search(transport)
        while True:
            try:
                await asyncio.wait_for(self._recheck.wait(), SEARCH_EVERY_S)
            except TimeoutError:
                self._send_search(transport)
                continue
            self._recheck.clear()
            self.tracker.rechecking = True
            for _ in range(RECHECK_TRIES):
                self._send_search(transport)
                await asyncio.sleep(RECHECK_EVERY_S)
                if not self.tracker.rechecking:
                    break
            else:
                self.tracker.rechecking = False  # no answer: the outage is judged without the router's word

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)
        for transport in self._transports:
            transport.close()
        self._transports.clear()
