"""``LabHome``: a whole home built from network namespaces, torn down completely on exit.

Topology (see docs/lab.md)::

    internet ns  eth0 100.64.0.1/30, lo 198.51.100.10 (collector, HTTP :80 target, answers ICMP)
        |  WAN veth
    router ns    wan0 100.64.0.2/30 (NAT, nftables) -- br0 10.<o>.0.1/24 (dnsmasq: DNS + DHCP)
        |  LAN veths on br0 (p-hub, p-d0, p-d1, ...)
    hub ns       eth0 10.<o>.0.2/24 (Mosquitto :1883, the agent)
    device ns    eth0 10.<o>.0.(10+i)/24 (one simulator each)

Nothing is created in the root namespace. All namespaces are named ``hdlab-<id>-<role>``; the state file
``/run/homediag-lab/<id>.json`` (written before anything is built) lets ``cleanup_stale`` and ``homediag-lab down``
find them again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from shared.atomic_file import write_atomically

from . import netns
from .disk import mount_small_disk, unmount_under
from .faults import Faults
from .mosquitto import Mosquitto
from .netns import LabError, NetnsError
from .parts import Device, DeviceSpec, LabProcess

logger = logging.getLogger(__name__)

STATE_DIR = Path("/run/homediag-lab")
CLOCK_OFFSET_ENV = "HOMEDIAG_CLOCK_OFFSET_FILE"
INTERNET_IP = "198.51.100.10"
ISP_GATEWAY_IP = "100.64.0.1"
ROUTER_WAN_IP = "100.64.0.2"
ROUTER_WAN_CIDR = 30
BROKER_PORT = 1883
HTTP_TARGET_PORT = 80
LAN_IFACE = "eth0"
BRIDGE = "br0"
WAN_IFACE = "wan0"
DEFAULT_FAMILIES = ("tasmota", "shelly", "zigbee2mqtt", "esphome", "sonos")


@dataclass
class _State:
    """What ``homediag-lab`` invocations and ``cleanup_stale`` need to find a lab again."""

    id: str
    owner_pid: int | None
    workdir: str
    lan_octet: int
    namespaces: list[str] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    broker_port: int | None = None
    upnp_bootid: int | None = None
    broker_pid: int | None = None
    nat: bool = True


def _lan_octet_for(instance_id: str) -> int:
    return 20 + int(instance_id, 16) % 200


class LabHome:
    """``with LabHome(devices=3) as lab:`` builds the home; leaving the block always tears everything down.

    ``devices`` is a count (families cycle through :data:`DEFAULT_FAMILIES`) or a list of :class:`DeviceSpec`.
    Simulators connect to the hub's broker at ``hub_ip:1883``; call :meth:`start_broker` (they retry until it
    is there). ``upnp=True`` runs an SSDP announcer (``lab.ssdp``) in the router with ``BOOTID.UPNP.ORG`` = 1.
    Faults: ``lab.faults`` (:class:`lab.faults.Faults`).
    """

    def __init__(
        self,
        devices: int | Sequence[DeviceSpec] = 0,
        *,
        upnp: bool = False,
        report_interval: float = 5.0,
        state_dir: Path = STATE_DIR,
        detached: bool = False,
    ) -> None:
        reason = netns.ip_available()
        if reason:
            raise NetnsError(reason)
        self._setup(netns.new_instance_id(), upnp=upnp, state_dir=state_dir, detached=detached)
        if isinstance(devices, int):
            self._device_specs = [
                DeviceSpec(
                    f"{DEFAULT_FAMILIES[i % len(DEFAULT_FAMILIES)]}-{i}",
                    DEFAULT_FAMILIES[i % len(DEFAULT_FAMILIES)],
                    report_interval,
                )
                for i in range(devices)
            ]
        else:
            self._device_specs = list(devices)

    def _setup(self, lab_id: str, *, upnp: bool, state_dir: Path, detached: bool) -> None:
        """Names and addresses, all derived from the instance id (so ``attach`` recomputes the same ones)."""
        self.id = lab_id
        self.prefix = f"{netns.PREFIX_FAMILY}{lab_id}-"
        self.lan_octet = _lan_octet_for(lab_id)
        self.router_ns = self.prefix + "router"
        self.hub_ns = self.prefix + "hub"
        self.internet_ns = self.prefix + "internet"
        self.gateway_ip = f"10.{self.lan_octet}.0.1"
        self.dns_ip = self.gateway_ip
        self.hub_ip = f"10.{self.lan_octet}.0.2"
        self.lan_cidr = f"10.{self.lan_octet}.0.0/24"
        self.internet_ip = INTERNET_IP
        self.hub_iface = LAN_IFACE
        self.broker_port = BROKER_PORT
        self.http_target_port = HTTP_TARGET_PORT
        self.upnp = upnp
        self.upnp_bootid = 1
        self.nat = False
        self._device_specs = []
        self.devices: dict[str, Device] = {}
        self.processes: list[LabProcess] = []
        self.broker: Mosquitto | None = None
        self.attached_broker_pid: int | None = None
        self._detached = detached
        self._state_dir = Path(state_dir)
        self.state_path = self._state_dir / f"{lab_id}.json"
        self.workdir = Path(tempfile.gettempdir()) / f"homediag-lab-{lab_id}"  # made by build()
        self.clock_offset_file = self.workdir / "hub-clock-offset"
        self._dnsmasq: LabProcess | None = None
        self._ssdp: LabProcess | None = None
        self._namespaces: list[str] = []
        self._hub_disk: Path | None = None
        self._closed = False
        self.faults = Faults(self)

    def hub_disk(self, size_mb: int = 64) -> Path:
        """A small filesystem (tmpfs) for the hub's state, so that ``faults.hub_disk_full`` can fill it to the
        last byte without touching the machine's own disk; unmounted when the lab closes."""
        if self._hub_disk is None:
            self._hub_disk = mount_small_disk(self.workdir / "hub-disk", size_mb, f"homediag-{self.id}")
        return self._hub_disk

    # -- addresses ---------------------------------------------------------------------------------------------
    def collector_url(self, port: int) -> str:
        return f"http://{self.internet_ip}:{port}"

    @property
    def broker_url(self) -> str:
        return f"mqtt://{self.hub_ip}:{self.broker_port}"

    @property
    def namespaces(self) -> list[str]:
        return list(self._namespaces)

    def device_ns(self, name: str) -> str:
        return self.devices[name].ns

    def hub_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for the agent in the hub: carries the clock-offset file (see docs/lab.md)."""
        env = dict(os.environ)
        env[CLOCK_OFFSET_ENV] = str(self.clock_offset_file)
        env.update(extra or {})
        return env

    # -- life cycle ----------------------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        import asyncio

        try:
            await asyncio.to_thread(self.build)
        except BaseException:
            await asyncio.to_thread(self.close)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        import asyncio

        await asyncio.to_thread(self.close)

    def build(self) -> None:
        self._state_dir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self.clock_offset_file.write_text("0\n")
        self.save_state()  # before any namespace exists: a crash from here on is found by cleanup_stale
        for ns in (self.router_ns, self.hub_ns, self.internet_ns):
            self._create_ns(ns)
        self._build_router_and_internet()
        self._attach_lan(self.hub_ns, "p-hub", self.hub_ip)
        netns.write_resolv_conf(self.hub_ns, self.dns_ip)
        self.start_dnsmasq()
        self._start_http_target()
        if self.upnp:
            self.start_upnp()
        for spec in self._device_specs:
            self.add_device(spec)
        self.save_state()
        logger.info("lab %s up: %d devices, LAN %s", self.id, len(self.devices), self.lan_cidr)

    def close(self) -> None:
        """Kill every process, delete every namespace and directory the lab made. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        errors: list[str] = []
        self.faults.stop_all()
        for process in reversed(self.processes):
            process.stop(grace_s=1.0)
        if self.broker is not None:
            self.broker.close()
        for ns in self._namespaces or netns.namespaces_of(self.prefix):
            try:
                netns.delete_namespace(ns)
            except NetnsError as exc:
                errors.append(str(exc))
        for ns in netns.namespaces_of(self.prefix):  # anything created but not yet recorded
            netns.delete_namespace(ns)
        unmount_under(self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.state_path.unlink(missing_ok=True)
        if errors:
            raise LabError("lab teardown incomplete: " + "; ".join(errors))

    # -- building blocks -------------------------------------------------------------------------------------
    def _create_ns(self, ns: str) -> None:
        self._namespaces.append(ns)
        self.save_state()
        netns.create_namespace(ns)

    def _build_router_and_internet(self) -> None:
        r, i = self.router_ns, self.internet_ns
        netns.add_bridge(r, BRIDGE)
        netns.add_address(r, BRIDGE, f"{self.gateway_ip}/24")
        netns.link_set(r, BRIDGE, True)
        netns.add_veth(r, WAN_IFACE, i, LAN_IFACE)
        netns.add_address(r, WAN_IFACE, f"{ROUTER_WAN_IP}/{ROUTER_WAN_CIDR}")
        netns.add_address(i, LAN_IFACE, f"{ISP_GATEWAY_IP}/{ROUTER_WAN_CIDR}")
        netns.add_address(i, "lo", f"{self.internet_ip}/32")
        netns.link_set(r, WAN_IFACE, True)
        netns.link_set(i, LAN_IFACE, True)
        netns.add_route(r, "default", ISP_GATEWAY_IP)
        netns.run_in(r, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        nat = (
            "table ip homediag_lab {\n chain postrouting {\n  type nat hook postrouting priority 100;\n"
            f'  oifname "{WAN_IFACE}" masquerade\n }}\n}}\n'
        )
        result = netns.run_in(r, ["nft", "-f", "-"], input=nat, check=False)
        self.nat = result.returncode == 0
        if not self.nat:
            # Without nftables the internet namespace routes the LAN back itself (plain routing, no NAT).
            logger.warning("nftables unavailable in the router (%s): routing without NAT", result.stderr.strip())
            netns.add_route(i, self.lan_cidr, ROUTER_WAN_IP)

    def _attach_lan(self, ns: str, router_port: str, ip: str) -> None:
        netns.add_veth(self.router_ns, router_port, ns, LAN_IFACE)
        netns.set_master(self.router_ns, router_port, BRIDGE)
        netns.link_set(self.router_ns, router_port, True)
        netns.add_address(ns, LAN_IFACE, f"{ip}/24")
        netns.link_set(ns, LAN_IFACE, True)
        netns.add_route(ns, "default", self.gateway_ip)

    def wait_tcp(self, ns: str, host: str, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.probe(ns, "tcp", host, str(port)).get("ok"):
            if time.monotonic() > deadline:
                raise LabError(f"nothing listens on {host}:{port} (seen from {ns}) after {timeout}s")
            time.sleep(0.1)

    def start_dnsmasq(self) -> None:
        leases = self.workdir / "dnsmasq.leases"
        start, end = f"10.{self.lan_octet}.0.100", f"10.{self.lan_octet}.0.199"
        self._dnsmasq = self.spawn(
            self.router_ns,
            [
                "dnsmasq",
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--conf-file=/dev/null",
                f"--interface={BRIDGE}",
                "--bind-interfaces",
                "--user=root",
                "--group=root",
                f"--dhcp-range={start},{end},255.255.255.0,12h",
                f"--dhcp-leasefile={leases}",
                f"--pid-file={self.workdir / 'dnsmasq.pid'}",
                "--log-facility=-",
                f"--address=/collector.lab/{self.internet_ip}",
                f"--address=/internet.lab/{self.internet_ip}",
            ],
            name="dnsmasq",
        )
        self._wait_dns()

    def _wait_dns(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.probe(self.router_ns, "dns", "internet.lab", self.dns_ip)["ok"]:
            if self._dnsmasq is not None and not self._dnsmasq.alive:
                raise LabError(f"dnsmasq exited: {self._dnsmasq.log_tail()}")
            if time.monotonic() > deadline:
                raise LabError("dnsmasq does not answer")
            time.sleep(0.1)

    def stop_dnsmasq(self, crash: bool = False) -> None:
        self._end(self._dnsmasq, crash)
        self._dnsmasq = None

    def _start_http_target(self) -> None:
        www = self.workdir / "www"
        www.mkdir(exist_ok=True)
        (www / "index.html").write_text("homediag lab internet target\n")
        self.spawn(
            self.internet_ns,
            [
                sys.executable,
                "-m",
                "http.server",
                str(self.http_target_port),
                "--bind",
                self.internet_ip,
                "--directory",
                str(www),
            ],
            name="http-target",
        )
        self.wait_tcp(self.internet_ns, self.internet_ip, self.http_target_port)

    def start_upnp(self, bootid: int | None = None) -> None:
        """The router's SSDP announcer (a miniupnpd stand-in) with ``BOOTID.UPNP.ORG`` = ``bootid``."""
        if bootid is not None:
            self.upnp_bootid = bootid
        self._ssdp = self.spawn(
            self.router_ns,
            [
                sys.executable,
                "-m",
                "lab.ssdp",
                "--ip",
                self.gateway_ip,
                "--bootid",
                str(self.upnp_bootid),
                "--uuid",
                f"hdlab-{self.id}-router",
            ],
            name="ssdp",
        )

    def stop_upnp(self, byebye: bool = False) -> None:
        """``byebye``: a graceful shutdown (SIGTERM: ssdp:byebye sent); otherwise killed like a power cut."""
        self._end(self._ssdp, crash=not byebye)
        self._ssdp = None

    def router_links(self, up: bool) -> None:
        """Every link of the router (LAN ports, bridge, WAN) up or down: what a power cycle looks like outside."""
        names = netns.links(self.router_ns)
        ordered = sorted(names, key=lambda n: n == BRIDGE) if not up else sorted(names, key=lambda n: n != BRIDGE)
        for name in ordered:
            netns.link_set(self.router_ns, name, up)
        if up:  # taking wan0 down deleted the default route through it
            netns.add_route(self.router_ns, "default", ISP_GATEWAY_IP)

    def hub_cable(self, plugged: bool) -> None:
        """The hub's cable: its port on the router's bridge up or down (the hub sees its carrier go)."""
        netns.link_set(self.router_ns, "p-hub", plugged)

    def wan_link(self, up: bool) -> None:
        netns.link_set(self.router_ns, WAN_IFACE, up)
        if up:
            netns.add_route(self.router_ns, "default", ISP_GATEWAY_IP)

    # -- processes -----------------------------------------------------------------------------------------------
    def run(
        self,
        ns: str,
        cmd: Sequence[str],
        *,
        check: bool = True,
        timeout: float | None = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to completion in one of this lab's namespaces."""
        self._check_ns(ns)
        return netns.run_in(ns, cmd, check=check, timeout=timeout, env=env)

    def spawn(
        self, ns: str, cmd: Sequence[str], *, name: str | None = None, env: Mapping[str, str] | None = None
    ) -> LabProcess:
        """Start a long-running process in ``ns``; it is killed on teardown. Output goes to ``workdir/logs``."""
        self._check_ns(ns)
        label = name or Path(cmd[0]).name
        log_path = self.workdir / "logs" / f"{label}.log"
        popen = netns.popen_in(ns, cmd, log_path=log_path, env=env)
        process = LabProcess(label, ns, list(cmd), log_path, popen.pid, popen)
        self.processes.append(process)
        self.save_state()
        return process

    def _end(self, process: LabProcess | None, crash: bool) -> None:
        """SIGKILL (``crash``) or SIGTERM-then-SIGKILL a tracked process, and stop tracking it."""
        if process is None:
            return
        if crash:
            process.kill()
        else:
            process.stop()
        if process in self.processes:
            self.processes.remove(process)
        self.save_state()

    def _check_ns(self, ns: str) -> None:
        if not ns.startswith(self.prefix):
            raise LabError(f"{ns!r} is not a namespace of lab {self.id}")

    def probe(self, ns: str, kind: str, *args: str, timeout: float = 1.0) -> dict[str, Any]:
        """Run ``lab.probe`` inside ``ns``: ``probe(hub, "tcp", ip, "80")``, ``("dns", name, server)``, ``("icmp", ip)``."""
        result = self.run(
            ns,
            [sys.executable, "-m", "lab.probe", "--timeout", str(timeout), kind, *args],
            check=False,
            timeout=timeout + 20,
        )
        try:
            return json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError) as exc:
            raise LabError(f"probe {kind} {args} in {ns} printed nothing usable: {result.stderr[-500:]}") from exc

    def connectivity(self, ns: str | None = None, timeout: float = 1.0) -> dict[str, bool]:
        """What ``ns`` (default: the hub) sees right now, probed in parallel: ``gateway`` (ICMP echo),
        ``dns`` (``internet.lab`` via dnsmasq), ``internet`` (TCP to the HTTP target by IP)."""
        ns = ns or self.hub_ns
        checks = {
            "gateway": ("icmp", self.gateway_ip),
            "dns": ("dns", "internet.lab", self.dns_ip),
            "internet": ("tcp", self.internet_ip, str(self.http_target_port)),
        }
        with ThreadPoolExecutor(len(checks)) as pool:
            futures = {name: pool.submit(self.probe, ns, *args, timeout=timeout) for name, args in checks.items()}
            return {name: bool(future.result()["ok"]) for name, future in futures.items()}

    def start_broker(self, port: int = BROKER_PORT) -> Mosquitto:
        """Mosquitto in the hub on ``hub_ip:port`` and ``127.0.0.1:port`` (the agent may use either)."""
        if self.broker is None:
            self.broker_port = port
            (self.workdir / "broker").mkdir(exist_ok=True)
            self.broker = Mosquitto(
                port,
                self.hub_ip,
                netns=self.hub_ns,
                workdir=self.workdir / "broker",
                extra_config=f"listener {port} 127.0.0.1\n",
            )
        self.broker.start()
        self.save_state()
        return self.broker

    # -- devices -----------------------------------------------------------------------------------------------
    def add_device(self, spec: DeviceSpec) -> Device:
        if spec.name in self.devices:
            raise LabError(f"device {spec.name!r} exists already")
        index = len(self.devices)
        if index >= 90:
            raise LabError("at most 90 device namespaces per lab (use the simulators' --count for more devices)")
        ns = f"{self.prefix}d{index}"
        device = Device(spec, ns, f"10.{self.lan_octet}.0.{10 + index}", f"p-d{index}")
        self.devices[spec.name] = device
        self._create_ns(ns)
        self._attach_lan(ns, device.router_port, device.ip)
        netns.write_resolv_conf(ns, self.dns_ip)
        self.start_simulator(spec.name)
        return device

    def simulator_command(self, device: Device, restart_reason: str | None) -> list[str]:
        spec = device.spec
        cmd = [
            sys.executable,
            "-m",
            "lab.simulators",
            spec.family,
            "--broker",
            f"{self.hub_ip}:{self.broker_port}",
            "--name",
            spec.name,
            "--ip",
            device.ip,
            "--iface",
            LAN_IFACE,
            "--report-interval",
            str(spec.report_interval),
            "--boot-count",
            str(device.boot_count),
        ]
        if spec.reconnect_delay is not None:
            cmd += ["--reconnect-delay", str(spec.reconnect_delay)]
        if restart_reason:
            cmd += ["--restart-reason", restart_reason]
        return cmd + list(spec.args)

    def start_simulator(self, name: str, restart_reason: str | None = None) -> LabProcess:
        device = self.devices[name]
        device.process = self.spawn(device.ns, self.simulator_command(device, restart_reason), name=f"sim-{name}")
        return device.process

    def stop_simulator(self, name: str, crash: bool = True) -> None:
        device = self.devices[name]
        self._end(device.process, crash)
        device.process = None

    def device_link(self, name: str, up: bool) -> None:
        netns.link_set(self.devices[name].ns, LAN_IFACE, up)

    # -- state file --------------------------------------------------------------------------------------------
    def save_state(self) -> None:
        state = _State(
            id=self.id,
            owner_pid=None if self._detached else os.getpid(),
            workdir=str(self.workdir),
            lan_octet=self.lan_octet,
            namespaces=self._namespaces,
            processes=[p.to_state() for p in self.processes],
            devices=[
                {
                    "name": d.name,
                    "family": d.spec.family,
                    "ns": d.ns,
                    "ip": d.ip,
                    "router_port": d.router_port,
                    "boot_count": d.boot_count,
                    "powered": d.powered,
                    "report_interval": d.spec.report_interval,
                    "reconnect_delay": d.spec.reconnect_delay,
                    "args": list(d.spec.args),
                    "pid": d.process.pid if d.process else None,
                }
                for d in self.devices.values()
            ],
            broker_port=self.broker_port if self.broker is not None else None,
            upnp_bootid=self.upnp_bootid if self.upnp else None,
            broker_pid=self._broker_pid(),
            nat=self.nat,
        )
        write_atomically(self.state_path, json.dumps(state.__dict__, indent=1).encode(), mode=0o644)

    def _broker_pid(self) -> int | None:
        if self.broker is not None and self.broker.running:
            assert self.broker._proc is not None
            return self.broker._proc.pid
        return self.attached_broker_pid

    @classmethod
    def attach(cls, state_path: Path) -> LabHome:
        """A handle on a lab another process built (``homediag-lab up``), for faults and ``down``."""
        try:
            data = json.loads(Path(state_path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LabError(f"cannot read lab state {state_path}: {exc}") from exc
        lab = cls.__new__(cls)
        lab._setup(
            data["id"],
            upnp=data["upnp_bootid"] is not None,
            state_dir=Path(state_path).parent,
            detached=data["owner_pid"] is None,
        )
        lab.broker_port = data["broker_port"] or BROKER_PORT
        lab.upnp_bootid = data["upnp_bootid"] or 1
        lab.nat = data.get("nat", True)
        lab.workdir = Path(data["workdir"])
        lab.clock_offset_file = lab.workdir / "hub-clock-offset"
        lab._namespaces = list(data["namespaces"])
        lab.processes = [
            LabProcess(p["name"], p["ns"], p["argv"], Path(p["log_path"]), p["pid"]) for p in data["processes"]
        ]
        by_pid = {p.pid: p for p in lab.processes}
        lab._dnsmasq = next((p for p in lab.processes if p.name == "dnsmasq"), None)
        lab._ssdp = next((p for p in lab.processes if p.name == "ssdp"), None)
        for d in data["devices"]:
            spec = DeviceSpec(d["name"], d["family"], d["report_interval"], d["reconnect_delay"], d["args"])
            lab.devices[d["name"]] = Device(
                spec, d["ns"], d["ip"], d["router_port"], d["boot_count"], by_pid.get(d["pid"]), d["powered"]
            )
        lab.attached_broker_pid = data.get("broker_pid")
        if data["broker_port"]:
            lab.broker = Mosquitto(
                lab.broker_port,
                lab.hub_ip,
                netns=lab.hub_ns,
                workdir=lab.workdir / "broker",
                extra_config=f"listener {lab.broker_port} 127.0.0.1\n",
            )
        return lab


def find_state(state_dir: Path = STATE_DIR, lab_id: str | None = None) -> Path:
    """The state file of the lab ``lab_id``, or of the only detached lab (``homediag-lab up``)."""
    if lab_id:
        path = state_dir / f"{lab_id}.json"
        if not path.exists():
            raise LabError(f"no lab {lab_id} (no {path})")
        return path
    detached = (
        [p for p in sorted(state_dir.glob("*.json")) if json.loads(p.read_text()).get("owner_pid") is None]
        if state_dir.exists()
        else []
    )
    if len(detached) != 1:
        raise LabError(f"{len(detached)} labs brought up with 'homediag-lab up'; name one with --id")
    return detached[0]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale(
    state_dir: Path = STATE_DIR, *, include_detached: bool = False, orphans_older_than_s: float | None = None
) -> list[str]:
    """Remove the leftovers of crashed runs; returns the lab ids removed.

    Labs (state files in ``state_dir``) whose owning process is gone are torn down; labs of live processes (other
    test runs on this machine) are left alone; ``include_detached`` also removes labs brought up by
    ``homediag-lab up``. ``orphans_older_than_s``: also delete ``hdlab-*`` namespaces that no state file in
    ``state_dir`` claims and that are at least that old (a crash before the state file was written, or a lab
    whose state file was lost). ``/etc/netns`` directories of namespaces that no longer exist always go."""
    removed: list[str] = []
    claimed: set[str] = set()
    for path in sorted(state_dir.glob("*.json")) if state_dir.exists() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        owner = data.get("owner_pid")
        stale = (owner is not None and not _pid_alive(owner)) or (owner is None and include_detached)
        if not stale:
            claimed.add(data["id"])
            continue
        for process in data.get("processes", []):
            LabProcess(
                process["name"], process["ns"], process["argv"], Path(process["log_path"]), process["pid"]
            ).kill()
        for ns in netns.namespaces_of(f"{netns.PREFIX_FAMILY}{data['id']}-"):
            netns.delete_namespace(ns)
        if data.get("workdir"):
            unmount_under(Path(data["workdir"]))
            shutil.rmtree(data["workdir"], ignore_errors=True)
        path.unlink(missing_ok=True)
        removed.append(data["id"])
    existing = netns.list_namespaces()
    if orphans_older_than_s is not None:
        for ns in existing:
            lab_id = ns[len(netns.PREFIX_FAMILY) :].split("-", 1)[0]
            if not ns.startswith(netns.PREFIX_FAMILY) or lab_id in claimed:
                continue
            try:
                age = time.time() - (netns.NETNS_RUN_DIR / ns).stat().st_mtime
            except OSError:
                continue
            if age >= orphans_older_than_s:
                netns.delete_namespace(ns)
                if lab_id not in removed:
                    removed.append(lab_id)
    if netns.NETNS_ETC_DIR.exists():
        for directory in netns.NETNS_ETC_DIR.glob(f"{netns.PREFIX_FAMILY}*"):
            if directory.name not in existing:
                shutil.rmtree(directory, ignore_errors=True)
    return removed
