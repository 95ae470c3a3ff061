"""One round of connectivity checks, from the configuration: hub link, gateway, DNS, internet, broker.

``run_checks`` is what both the periodic monitor and the one-click diagnosis call. A check whose target the
configuration does not name is reported as not configured (``ok=None``) and nothing is sent for it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..config import AgentConfig
from .wire import ProbeResult, dns_resolve, icmp_echo, tcp_connect

CHECKS = ("hub_link", "gateway", "dns", "internet", "broker")
SYS_NET = Path("/sys/class/net")


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool | None  # None: not configured, nothing probed
    detail: str = ""
    latency_ms: float | None = None


def link_state(interface: str, sys_net: Path = SYS_NET) -> ProbeResult:
    """Carrier and operational state from sysfs (no packets)."""
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


def split_target(target: str, default_port: int | None = None) -> tuple[str, int | None]:
    """``host:port`` → (host, port); a bare host → (host, default_port)."""
    host, sep, port = target.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return target, default_port


def _from(name: str, result: ProbeResult) -> CheckResult:
    return CheckResult(name, result.ok, result.detail, result.latency_ms)


def _links(interfaces: list[str]) -> CheckResult:
    results = [link_state(name) for name in interfaces]
    return CheckResult("hub_link", all(r.ok for r in results), "; ".join(r.detail for r in results))


def _dns(server: str, names: list[str], timeout: float) -> CheckResult:
    results = [dns_resolve(name, server, timeout) for name in names]
    failed = [f"{name}: {r.detail}" for name, r in zip(names, results, strict=True) if not r.ok]
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    return CheckResult("dns", not failed, "; ".join(failed) or f"{len(names)} names resolved via {server}",
                       max(latencies) if latencies else None)


def _internet(targets: list[str], timeout: float) -> CheckResult:
    """Up when any target answers: one unreachable site is not the internet being down."""
    details = []
    for target in targets:
        host, port = split_target(target)
        result = tcp_connect(host, port, timeout) if port is not None else icmp_echo(host, timeout)
        if result.ok:
            return CheckResult("internet", True, target, result.latency_ms)
        details.append(f"{target}: {result.detail}")
    return CheckResult("internet", False, "; ".join(details))


def _broker(url: str, timeout: float) -> CheckResult:
    parts = urlsplit(url)
    if not parts.hostname:
        return CheckResult("broker", False, f"bad broker URL {url!r}")
    return _from("broker", tcp_connect(parts.hostname, parts.port or 1883, timeout))


async def run_checks(config: AgentConfig) -> list[CheckResult]:
    """Every check once, in parallel threads; the order of ``CHECKS``."""
    net, timeout = config.network, config.probes.timeout_s

    async def check(name: str, configured: bool, run) -> CheckResult:  # type: ignore[no-untyped-def]
        if not configured:
            return CheckResult(name, None, "not configured")
        return await asyncio.to_thread(run)

    return list(await asyncio.gather(
        check("hub_link", bool(net.interfaces), lambda: _links(net.interfaces)),
        check("gateway", net.gateway is not None, lambda: _from("gateway", icmp_echo(net.gateway, timeout))),
        check("dns", net.dns_resolver is not None and bool(net.dns_names),
              lambda: _dns(net.dns_resolver, net.dns_names, timeout)),
        check("internet", bool(net.internet_targets), lambda: _internet(net.internet_targets, timeout)),
        check("broker", config.broker.url is not None, lambda: _broker(config.broker.url, timeout)),
    ))
