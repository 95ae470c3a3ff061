"""What kind of outage the timeline shows: pure functions over monitor events.

The signature of a router reboot, seen from inside the home, is everything at once: the hub's link (a wired
hub loses carrier), the gateway, DNS and the internet all fail and come back together within minutes, often
with a new SSDP ``BOOTID`` from the router; a router that said ``ssdp:byebye`` just before going away was
shut down on purpose (a scheduled reboot). A router that answers with the *same* BOOTID right after the hub's
link returns never went away: the hub's own link (a cable, a switch port) was down. A WAN outage leaves the
gateway answering; a DNS failure leaves the gateway and the internet (reached by address) working; a broker
crash touches nothing but the broker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.models import EventKind, EventState, RootCause, TimelineEvent

NETWORK_KINDS = {
    EventKind.HUB_LINK: "hub_link",
    EventKind.GATEWAY: "gateway",
    EventKind.DNS: "dns",
    EventKind.INTERNET: "internet",
    EventKind.BROKER: "broker",
}
# A router comes back within minutes; a hub link down for longer without any sign of a router boot is the hub's.
ROUTER_REBOOT_MAX = timedelta(minutes=10)
# An ssdp:byebye from the gateway this shortly before the outage: the router was shut down gracefully.
BYEBYE_BEFORE = timedelta(seconds=60)
# After the network returns, the router's word on whether it rebooted (its BOOTID, asked again) counts this long.
BOOT_ID_WAIT = timedelta(seconds=15)
# A restarting device is away for seconds; an absence this short that ends in a reboot is the reboot itself.
REBOOT_ABSENCE = timedelta(seconds=30)


@dataclass(frozen=True)
class Outage:
    start: datetime
    end: datetime | None
    down: frozenset[str]  # which checks failed during it
    boot_id_changed: bool = False
    announced: bool = False  # the router said ssdp:byebye just before
    router_stayed_up: bool = False  # the router answered with its old BOOTID when the network came back

    @property
    def duration(self) -> timedelta | None:
        return None if self.end is None else self.end - self.start


def classify(outage: Outage) -> RootCause:
    down = outage.down
    if "gateway" in down or "hub_link" in down:
        if "hub_link" in down and outage.router_stayed_up and not outage.boot_id_changed:
            return RootCause.HUB_LINK_DOWN
        too_long = outage.duration is not None and outage.duration > ROUTER_REBOOT_MAX
        if "hub_link" in down and too_long and not outage.boot_id_changed:
            return RootCause.HUB_LINK_DOWN
        return RootCause.ROUTER_SCHEDULED_REBOOT if outage.announced else RootCause.ROUTER_REBOOT
    if "internet" in down:
        return RootCause.WAN_OUTAGE
    if "dns" in down:
        return RootCause.DNS_FAILURE
    return RootCause.BROKER_DOWN


def outages(events: Iterable[TimelineEvent]) -> list[Outage]:
    """Periods in which at least one network check was down, with what went down, oldest first."""
    found: list[Outage] = []
    down: set[str] = set()
    seen: set[str] = set()
    start: datetime | None = None
    byebye: datetime | None = None
    ordered = sorted(events, key=lambda e: e.ts)
    for event in ordered:
        if event.kind is EventKind.ROUTER_BOOT_ID and event.state is EventState.BYEBYE:
            byebye = event.ts
        name = NETWORK_KINDS.get(event.kind)
        if name is None:
            continue
        if event.state is EventState.DOWN:
            if start is None:
                start, seen = event.ts, set()
            down.add(name)
            seen.add(name)
        elif event.state is EventState.UP and name in down:
            down.discard(name)
            if not down and start is not None:
                found.append(Outage(start, event.ts, frozenset(seen), announced=announced(byebye, start)))
                start = None
    if start is not None:
        found.append(Outage(start, None, frozenset(seen), announced=announced(byebye, start)))
    boot_ids = [e for e in ordered if e.kind is EventKind.ROUTER_BOOT_ID]
    return [_router_said(outage, boot_ids) for outage in found]


def _router_said(outage: Outage, boot_ids: list[TimelineEvent]) -> Outage:
    """What the router said about its BOOTID during the outage or just after it (asked when the gateway
    answered again): ``changed`` is a reboot, ``same`` means it stayed up."""
    until = outage.end + BOOT_ID_WAIT if outage.end is not None else None
    said = {e.state for e in boot_ids if outage.start <= e.ts and (until is None or e.ts <= until)}
    return replace(outage, boot_id_changed=EventState.CHANGED in said, router_stayed_up=EventState.SAME in said)


def announced(byebye: datetime | None, start: datetime) -> bool:
    return byebye is not None and timedelta(0) <= start - byebye <= BYEBYE_BEFORE
