"""One round of connectivity checks, from the configuration: hub link, gateway, DNS, internet, broker.

``run_checks`` is what both the periodic monitor and the one-click diagnosis call. A check whose target the
configuration does not name is reported as not configured (``ok=None``) and nothing is sent for it. Each check
is one protocol module (``link``, ``gateway``, ``dns``, ``internet``, ``broker``); their blocking probes run in
worker threads, in parallel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ..config import AgentConfig
from .broker import check_broker
from .dns import check_dns
from .gateway import check_gateway
from .internet import check_internet
from .link import check_links
from .result import ProbeResult

CHECKS = ("hub_link", "gateway", "dns", "internet", "broker")


@dataclass(frozen=True)
class CheckResult:
    name: str  # one of CHECKS
    ok: bool | None  # None: not configured, nothing probed
    detail: str = ""
    latency_ms: float | None = None


async def _check(name: str, probe: Callable[[], ProbeResult] | None) -> CheckResult:
    if probe is None:
        return CheckResult(name, None, "not configured")
    result = await asyncio.to_thread(probe)
    return CheckResult(name, result.ok, result.detail, result.latency_ms)


def _probes(config: AgentConfig) -> dict[str, Callable[[], ProbeResult] | None]:
    net, timeout = config.network, config.probes.timeout_s
    gateway, resolver, broker = net.gateway, net.dns_resolver, config.broker.url
    first_interface = net.interfaces[0] if net.interfaces else None
    return {
        "hub_link": (lambda: check_links(net.interfaces)) if net.interfaces else None,
        "gateway": (lambda: check_gateway(gateway, first_interface, timeout, arp=config.probes.arp))
        if gateway
        else None,
        "dns": (lambda: check_dns(resolver, net.dns_names, timeout)) if resolver and net.dns_names else None,
        "internet": (lambda: check_internet(net.internet_targets, timeout)) if net.internet_targets else None,
        "broker": (lambda: check_broker(broker, timeout)) if broker else None,
    }


async def run_checks(config: AgentConfig) -> list[CheckResult]:
    """Every check once, in the order of ``CHECKS``."""
    probes = _probes(config)
    return list(await asyncio.gather(*(_check(name, probes[name]) for name in CHECKS)))
