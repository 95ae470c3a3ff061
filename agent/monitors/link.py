"""The hub's own link: carrier and operational state from sysfs, and its IPv4 addresses (no packets sent).

A changed address set (a new DHCP lease, an address lost while the router was away) becomes a
``hub_address`` event; ``address_change`` decides that from plain data.
"""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path

import psutil

from shared.models import EventKind, EventState, TimelineEvent

from .result import ProbeResult

SYS_NET = Path("/sys/class/net")


def link_state(interface: str, sys_net: Path = SYS_NET) -> ProbeResult:
    base = sys_net / interface
    try:
        operstate = (base / "operstate").read_text().strip()
    except OSError:
        return ProbeResult(False, detail=f"no interface {interface}")
    try:
        carrier = (base / "carrier").read_text().strip() == "1"
    except OSError:  # reading carrier of an administratively down link fails with EINVAL
        carrier = False
    up = carrier and operstate in ("up", "unknown")
    return ProbeResult(up, detail=f"{interface} {operstate}{'' if carrier else ', no carrier'}")


def check_links(interfaces: list[str]) -> ProbeResult:
    results = [link_state(name) for name in interfaces]
    return ProbeResult(all(r.ok for r in results), detail="; ".join(r.detail for r in results))


def ipv4_addresses(interfaces: list[str]) -> dict[str, list[str]]:
    """The configured interfaces' IPv4 addresses (psutil reads them over netlink)."""
    found = psutil.net_if_addrs()
    return {name: sorted(a.address for a in found.get(name, []) if a.family == socket.AF_INET) for name in interfaces}


def address_change(
    previous: dict[str, list[str]] | None, current: dict[str, list[str]], at: datetime
) -> TimelineEvent | None:
    """A ``hub_address`` event when the addresses changed since the last look (the first look is the baseline)."""
    if previous is None or previous == current:
        return None
    return TimelineEvent(
        ts=at,
        kind=EventKind.HUB_ADDRESS,
        state=EventState.CHANGED,
        source="monitor.hub_link",
        detail={"before": previous, "after": current},
    )
