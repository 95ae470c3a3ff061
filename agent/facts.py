"""What the hub knows about itself and its network right now, read-only.

Parsers (``parse_*``) take the text of ``/proc`` files, ``/etc/resolv.conf`` or ``ip -j neigh`` and return
plain data; they are tested with fixture text. The readers at the bottom (``host_facts``, ``network_facts``)
only read files, ask psutil and run ``ip -j neigh`` (a netlink dump): nothing here sends a packet.
All of it is blocking: call it from a thread when inside an event loop.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import platform
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

_LOGGER = logging.getLogger(__name__)

PROC_ROUTE = Path("/proc/net/route")
PROC_IPV6_ROUTE = Path("/proc/net/ipv6_route")
PROC_ARP = Path("/proc/net/arp")
RESOLV_CONF = Path("/etc/resolv.conf")

_RTF_UP = 0x0001
_RTF_GATEWAY = 0x0002
_RTF_REJECT = 0x0200
_RTF_LOCAL = 0x80000000
# /proc/net/arp flags: ATF_COM (0x2) = resolved; 0 = incomplete.
_ATF_COM = 0x02


def _le_hex_ipv4(text: str) -> str:
    """/proc/net/route stores IPv4 addresses as little-endian hex."""
    return str(ipaddress.IPv4Address(int(text, 16).to_bytes(4, "little")))


def _prefix_len(mask: str) -> int:
    return ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen


def parse_proc_route(text: str) -> list[dict[str, Any]]:
    """IPv4 routes from ``/proc/net/route``."""
    routes = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 11:
            continue
        iface, dest, gateway, flags, _refcnt, _use, metric, mask = cols[:8]
        flag_bits = int(flags, 16)
        routes.append(
            {
                "destination": f"{_le_hex_ipv4(dest)}/{_prefix_len(_le_hex_ipv4(mask))}",
                "gateway": _le_hex_ipv4(gateway) if flag_bits & _RTF_GATEWAY else None,
                "interface": iface,
                "metric": int(metric),
                "up": bool(flag_bits & _RTF_UP),
            }
        )
    return routes


def _hex_ipv6(text: str) -> str:
    return str(ipaddress.IPv6Address(bytes.fromhex(text)))


def parse_proc_ipv6_route(text: str) -> list[dict[str, Any]]:
    """IPv6 routes from ``/proc/net/ipv6_route`` (dest, dest len, src, src len, next hop, metric, …, iface)."""
    routes = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) != 10:
            continue
        dest, dest_len, _src, _src_len, next_hop, metric, _ref, _use, flags, iface = cols
        if int(flags, 16) & (_RTF_LOCAL | _RTF_REJECT):  # the host's own addresses and "unreachable" fillers
            continue
        gateway = _hex_ipv6(next_hop)
        routes.append(
            {
                "destination": f"{_hex_ipv6(dest)}/{int(dest_len, 16)}",
                "gateway": None if gateway == "::" else gateway,
                "interface": iface,
                "metric": int(metric, 16),
                "up": bool(int(flags, 16) & _RTF_UP),
            }
        )
    return routes


def parse_proc_arp(text: str) -> list[dict[str, Any]]:
    """IPv4 neighbours from ``/proc/net/arp``."""
    neighbours = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 6:
            continue
        ip, _hw_type, flags, mac, _mask, device = cols[:6]
        complete = bool(int(flags, 16) & _ATF_COM)
        neighbours.append(
            {
                "ip": ip,
                "mac": mac.lower() if complete else None,
                "interface": device,
                "state": "REACHABLE" if complete else "INCOMPLETE",
            }
        )
    return neighbours


def parse_ip_neigh_json(text: str) -> list[dict[str, Any]]:
    """IPv4 and IPv6 neighbours from ``ip -j neigh``."""
    try:
        entries = json.loads(text or "[]")
    except ValueError:
        return []
    neighbours = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or "dst" not in entry:
            continue
        states = entry.get("state") or []
        neighbours.append(
            {
                "ip": entry["dst"],
                "mac": (entry.get("lladdr") or "").lower() or None,
                "interface": entry.get("dev"),
                "state": ",".join(states) if isinstance(states, list) else str(states),
                "router": "router" in entry,
            }
        )
    return neighbours


def parse_resolv_conf(text: str) -> dict[str, Any]:
    """Name servers, search domains and options from ``resolv.conf`` text."""
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        keyword, *values = line.split()
        if keyword == "nameserver" and values:
            nameservers.append(values[0])
        elif keyword in ("search", "domain"):
            search = values  # the last search/domain line wins, as in the resolver
        elif keyword == "options":
            options.extend(values)
    return {"nameservers": nameservers, "search": search, "options": options}


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        _LOGGER.debug("cannot read %s: %s", path, exc)
        return None


def _ip_neigh_json() -> str | None:
    ip = shutil.which("ip")
    if ip is None:
        return None
    try:
        done = subprocess.run([ip, "-j", "neigh", "show"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _LOGGER.debug("ip -j neigh failed: %s", exc)
        return None
    return done.stdout if done.returncode == 0 else None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _temperatures() -> dict[str, list[dict[str, Any]]]:
    read = getattr(psutil, "sensors_temperatures", None)
    if read is None:
        return {}
    try:
        sensors = read()
    except (OSError, RuntimeError):
        return {}
    return {
        chip: [{"label": s.label, "current_c": s.current, "high_c": s.high, "critical_c": s.critical} for s in readings]
        for chip, readings in sensors.items()
    }


def host_facts(state_dir: Path) -> dict[str, Any]:
    """The hub's health: OS, uptime, CPU, memory, disk of the state directory, temperatures, interface errors."""
    boot = psutil.boot_time()
    memory = psutil.virtual_memory()
    try:
        disk = psutil.disk_usage(str(state_dir))
        disk_facts: dict[str, Any] | None = {
            "path": str(state_dir),
            "total": disk.total,
            "used": disk.used,
            "free": disk.free,
            "percent": disk.percent,
        }
    except OSError:
        disk_facts = None
    try:
        load = list(psutil.getloadavg())
    except OSError:
        load = None
    counters = psutil.net_io_counters(pernic=True)
    return {
        "hostname": socket.gethostname(),
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "version": platform.version(),
            "machine": platform.machine(),
            "python": platform.python_version(),
        },
        "boot_time": _iso(boot),
        "uptime_s": round(time.time() - boot, 1),
        "cpu": {"count": psutil.cpu_count(), "percent": psutil.cpu_percent(interval=0.1), "load_average": load},
        "memory": {"total": memory.total, "available": memory.available, "percent": memory.percent},
        "disk": disk_facts,
        "temperatures": _temperatures(),
        "interface_errors": {
            name: {"errin": c.errin, "errout": c.errout, "dropin": c.dropin, "dropout": c.dropout}
            for name, c in sorted(counters.items())
        },
    }


def _interfaces() -> list[dict[str, Any]]:
    stats = psutil.net_if_stats()
    interfaces = []
    for name, addrs in sorted(psutil.net_if_addrs().items()):
        stat = stats.get(name)
        entry: dict[str, Any] = {
            "name": name,
            "up": stat.isup if stat else None,
            "mtu": stat.mtu if stat else None,
            "mac": None,
            "addresses": [],
        }
        for addr in addrs:
            if addr.family == psutil.AF_LINK:
                entry["mac"] = addr.address.lower()
            elif addr.family in (socket.AF_INET, socket.AF_INET6):
                entry["addresses"].append(
                    {
                        "family": "ipv4" if addr.family == socket.AF_INET else "ipv6",
                        "address": addr.address,
                        "netmask": addr.netmask,
                    }
                )
        interfaces.append(entry)
    return interfaces


def network_facts() -> dict[str, Any]:
    """Interfaces, routes, neighbours and DNS configuration."""
    neigh_json = _ip_neigh_json()
    if neigh_json is not None:
        neighbours, neighbour_source = parse_ip_neigh_json(neigh_json), "ip -j neigh"
    else:
        neighbours, neighbour_source = parse_proc_arp(_read_text(PROC_ARP) or ""), str(PROC_ARP)
    resolv = _read_text(RESOLV_CONF)
    return {
        "interfaces": _interfaces(),
        "routes": {
            "ipv4": parse_proc_route(_read_text(PROC_ROUTE) or ""),
            "ipv6": parse_proc_ipv6_route(_read_text(PROC_IPV6_ROUTE) or ""),
        },
        "neighbours": neighbours,
        "neighbour_source": neighbour_source,
        "dns": parse_resolv_conf(resolv) if resolv is not None else None,
    }
