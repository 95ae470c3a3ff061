"""Thin, safe helpers over ``ip netns`` / ``ip link`` / ``ip addr`` / ``ip route``.

Every interface is created *inside* a namespace (``ip -n NS link add ... peer name X netns OTHER``), so nothing
ever appears in the root namespace, and interface names only have to be unique within their own namespace.
Namespace names are global: they all start with :data:`PREFIX_FAMILY` followed by a per-instance id
(``hdlab-1a2b-router``), so several labs can run at once and :func:`namespaces_of` finds exactly one lab's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

PREFIX_FAMILY = "hdlab-"
NETNS_RUN_DIR = Path("/run/netns")
NETNS_ETC_DIR = Path("/etc/netns")
MAX_IFNAME = 15


class LabError(RuntimeError):
    """Base error of the lab package (building the home, injecting faults, simulators)."""


class NetnsError(LabError):
    """An ``ip`` command failed, or the machine cannot build namespaces."""


def ip_available() -> str | None:
    """``None`` when this process can build namespaces, else the reason why not (for pytest skips)."""
    if os.geteuid() != 0:
        return "the lab needs root (ip netns)"
    if shutil.which("ip") is None:
        return "iproute2 ('ip') is not installed"
    return None


def new_instance_id() -> str:
    """A short id (4 hex) no existing namespace uses yet."""
    existing = set(list_namespaces())
    for _ in range(100):
        candidate = secrets.token_hex(2)
        if not any(name.startswith(f"{PREFIX_FAMILY}{candidate}-") for name in existing):
            return candidate
    raise NetnsError("could not find a free lab instance id")


def _check_ifname(name: str) -> None:
    if not name or len(name) > MAX_IFNAME or "/" in name or " " in name:
        raise NetnsError(f"invalid interface name {name!r} (1..{MAX_IFNAME} chars, no '/' or spaces)")


def _check_ours(ns: str) -> None:
    # The single guard that keeps every destructive call inside the lab's own namespaces.
    if not ns.startswith(PREFIX_FAMILY):
        raise NetnsError(f"refusing to touch namespace {ns!r}: not a lab namespace ({PREFIX_FAMILY}*)")


def ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    """Run ``ip [-n NS] ARGS``; a failure raises :class:`NetnsError` with ip's message."""
    cmd = ["ip"] + (["-n", ns] if ns else []) + list(args)
    if ns:
        _check_ours(ns)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def list_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def namespaces_of(instance_prefix: str) -> list[str]:
    """Namespaces whose name starts with ``instance_prefix`` (e.g. ``hdlab-1a2b-``)."""
    _check_ours(instance_prefix)
    return [name for name in list_namespaces() if name.startswith(instance_prefix)]


def create_namespace(ns: str) -> None:
    _check_ours(ns)
    ip("netns", "add", ns)
    ip("link", "set", "lo", "up", ns=ns)
    # IPv6 autoconfiguration and DAD only add noise (and delays) to the lab's traffic.
    run_in(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])


def namespace_pids(ns: str) -> list[int]:
    _check_ours(ns)
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split() if pid.isdigit()]


def kill_namespace_processes(ns: str, grace_s: float = 2.0) -> None:
    """SIGTERM every process inside ``ns``, SIGKILL what is left after ``grace_s``."""
    pids = namespace_pids(ns)
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 1.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = namespace_pids(ns)
        if not pids:
            return


def delete_namespace(ns: str) -> None:
    """Kill what runs inside, delete the namespace and its ``/etc/netns/<ns>`` directory. Idempotent."""
    _check_ours(ns)
    if (NETNS_RUN_DIR / ns).exists():
        kill_namespace_processes(ns)
        ip("netns", "delete", ns, check=False)
    shutil.rmtree(NETNS_ETC_DIR / ns, ignore_errors=True)


def write_resolv_conf(ns: str, nameserver: str) -> Path:
    """``/etc/netns/<ns>/resolv.conf``: ``ip netns exec`` bind-mounts it over ``/etc/resolv.conf``."""
    _check_ours(ns)
    directory = NETNS_ETC_DIR / ns
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "resolv.conf"
    path.write_text(f"nameserver {nameserver}\noptions timeout:1 attempts:1\n")
    return path


def add_veth(ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
    """A veth pair with one end in each namespace, created there directly (never in the root namespace)."""
    _check_ifname(name_a)
    _check_ifname(name_b)
    _check_ours(ns_b)
    ip("link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b, ns=ns_a)


def add_bridge(ns: str, name: str) -> None:
    _check_ifname(name)
    # No STP and no forward delay: ports forward at once after a link comes up; no multicast snooping, so
    # mDNS/SSDP reach every port without an IGMP querier.
    ip("link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0", ns=ns)


def set_master(ns: str, ifname: str, bridge: str) -> None:
    ip("link", "set", ifname, "master", bridge, ns=ns)


def link_set(ns: str, ifname: str, up: bool) -> None:
    ip("link", "set", ifname, "up" if up else "down", ns=ns)


def links(ns: str) -> list[str]:
    """Interface names in ``ns`` except ``lo``."""
    names = []
    for line in ip("-o", "link", "show", ns=ns).splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        if name != "lo":
            names.append(name)
    return names


def add_address(ns: str, ifname: str, cidr: str) -> None:
    ip("addr", "add", cidr, "dev", ifname, ns=ns)


def add_route(ns: str, destination: str, via: str) -> None:
    ip("route", "replace", destination, "via", via, ns=ns)


def run_in(
    ns: str,
    cmd: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = 30.0,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``ip netns exec NS CMD``, output captured as text; ``check`` raises :class:`NetnsError` on failure."""
    _check_ours(ns)
    full = ["ip", "netns", "exec", ns, *cmd]
    try:
        result = subprocess.run(
            full,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            input=input,
        )
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"{' '.join(cmd)} in {ns} timed out after {timeout}s") from exc
    if check and result.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)} in {ns} exited {result.returncode}: {result.stderr.strip()[-500:]}")
    return result


def popen_in(
    ns: str,
    cmd: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process in ``ns`` (``ip netns exec`` execs into it: same pid), output to ``log_path``.

    The caller owns it (see :class:`lab.home.LabProcess`); every process left in a lab namespace is also killed
    when the namespace is deleted.
    """
    _check_ours(ns)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            ["ip", "netns", "exec", ns, *cmd],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
