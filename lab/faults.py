"""Real fault injection in a :class:`lab.home.LabHome`: links really go down, processes really die.

Every injection returns a :class:`Fault` handle at once, with ``started_at`` (UTC wall time of the injection)
already set; timed faults restore themselves in a background thread owned by the lab and set ``ended_at`` when
the home is whole again. ``fault.wait()`` blocks until then, ``await fault.wait_async()`` does the same without
blocking the event loop. Leaving the lab ends every fault still running (restored at once).

Injecting is a handful of ``ip`` calls (tens of ms); from async code call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from shared.atomic_file import write_atomically

from .disk import fill_filesystem
from .mosquitto import Mosquitto
from .netns import LabError
from .parts import Device, LabProcess
from .simulators.families import CRASH_REASON, POWER_ON_REASON
from .simulators.runner import WEAK_RSSI_DBM

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Fault:
    """One injected fault. ``details`` says what exactly happened (e.g. the new BOOTID, restart times)."""

    kind: str
    params: dict[str, Any]
    started_at: datetime = field(default_factory=_now)
    ended_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _on_end: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def active(self) -> bool:
        return not self._done.is_set()

    def wait(self, timeout: float | None = None) -> Fault:
        """Block until the fault has ended (home restored); re-raise a restore failure."""
        if not self._done.wait(timeout):
            raise LabError(f"fault {self.kind} still active after {timeout}s")
        if self._thread is not None:
            self._thread.join()
        if self.error is not None:
            raise LabError(f"restoring after {self.kind} failed: {self.error}") from self.error
        return self

    async def wait_async(self) -> Fault:
        """:meth:`wait` without blocking the loop; bound it with ``asyncio.timeout``."""
        loop = asyncio.get_running_loop()
        ended = loop.create_future()

        def wake() -> None:
            if not ended.done():
                ended.set_result(None)

        def on_end() -> None:  # in the fault's thread; the loop may be gone by then
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake)

        self._on_end.append(on_end)
        try:
            if self.active:  # registered before this check, so an end after it wakes us
                await ended
        finally:
            self._on_end.remove(on_end)
        return self.wait()

    def _finish(self) -> None:
        if self.ended_at is None:
            self.ended_at = _now()
        self._done.set()
        for on_end in list(self._on_end):
            on_end()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "params": self.params,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "details": self.details,
        }


class Home(Protocol):
    """What the faults drive in a home (``lab.home.LabHome``, which owns its faults and so imports this module)."""

    id: str
    workdir: Path
    clock_offset_file: Path
    devices: dict[str, Device]
    broker: Mosquitto | None
    broker_port: int
    attached_broker_pid: int | None
    upnp: bool
    upnp_bootid: int

    def save_state(self) -> None: ...
    def hub_disk(self, size_mb: int = ...) -> Path: ...
    def hub_cable(self, plugged: bool) -> None: ...
    def wan_link(self, up: bool) -> None: ...
    def router_links(self, up: bool) -> None: ...
    def device_link(self, name: str, up: bool) -> None: ...
    def start_broker(self, port: int = ...) -> Mosquitto: ...
    def start_dnsmasq(self) -> None: ...
    def stop_dnsmasq(self, crash: bool = ...) -> None: ...
    def start_upnp(self, bootid: int | None = ...) -> None: ...
    def stop_upnp(self, byebye: bool = ...) -> None: ...
    def start_simulator(self, name: str, restart_reason: str | None = ...) -> LabProcess: ...
    def stop_simulator(self, name: str, crash: bool = ...) -> None: ...


class Faults:
    """The fault injectors of one lab; ``history`` keeps every fault injected, in order."""

    def __init__(self, lab: Home) -> None:
        self.lab = lab
        self.history: list[Fault] = []
        self._open: dict[tuple[str, str], Fault] = {}  # faults ended by a second call (broker, power)

    # -- plumbing ----------------------------------------------------------------------------------------------
    def _begin(self, kind: str, **params: Any) -> Fault:
        fault = Fault(kind, params)
        self.history.append(fault)
        logger.info("lab %s: fault %s %s injected", self.lab.id, kind, params)
        return fault

    def _timed(self, fault: Fault, duration_s: float, restore: Callable[[Fault], None]) -> Fault:
        """Restore after ``duration_s`` in a thread (earlier if the lab closes)."""

        def run() -> None:
            fault._cancel.wait(duration_s)
            try:
                restore(fault)
            except BaseException as exc:  # reported by wait(); the thread must not die silently
                fault.error = exc
                logger.exception("lab %s: restoring after %s failed", self.lab.id, fault.kind)
            finally:
                fault._finish()
                logger.info("lab %s: fault %s ended", self.lab.id, fault.kind)

        fault._thread = threading.Thread(target=run, name=f"lab-fault-{fault.kind}", daemon=True)
        fault._thread.start()
        return fault

    def _end_open(self, key: tuple[str, str]) -> Fault | None:
        """End the fault a first call left open under ``key`` (returned; None if there was none)."""
        fault = self._open.pop(key, None)
        if fault is not None:
            fault._finish()
        return fault

    def stop_all(self) -> None:
        """End every running timed fault now (restoring the home) and wait for the restorers."""
        for fault in self.history:
            fault._cancel.set()
        for fault in self.history:
            if fault._thread is not None:
                fault._thread.join()

    # -- the router ----------------------------------------------------------------------------------------------
    def router_reboot(self, duration_s: float, *, scheduled: bool = False, bootid: bool = True) -> Fault:
        """Every router link down and dnsmasq stopped; after ``duration_s`` links up, dnsmasq restarted, and
        (``bootid`` and the lab runs UPnP) the SSDP announcer back with ``BOOTID.UPNP.ORG`` + 1.
        ``scheduled``: a planned reboot, shut down gracefully (dnsmasq SIGTERM, ssdp:byebye sent first)."""
        lab = self.lab
        fault = self._begin("router_reboot", duration_s=duration_s, scheduled=scheduled, bootid=bootid)
        if lab.upnp:
            lab.stop_upnp(byebye=scheduled)
        lab.stop_dnsmasq(crash=not scheduled)
        fault.started_at = _now()
        lab.router_links(False)

        def restore(f: Fault) -> None:
            lab.router_links(True)
            f.ended_at = _now()
            lab.start_dnsmasq()
            f.details["dns_back_at"] = _now().isoformat()
            if lab.upnp:
                lab.start_upnp(lab.upnp_bootid + 1 if bootid else lab.upnp_bootid)
                f.details["bootid"] = lab.upnp_bootid

        return self._timed(fault, duration_s, restore)

    def wan_outage(self, duration_s: float) -> Fault:
        """Only the router's internet link down; LAN, gateway and DNS keep working."""
        return self._link_cut("wan_outage", duration_s, self.lab.wan_link)

    def _link_cut(self, kind: str, duration_s: float, set_link: Callable[[bool], None]) -> Fault:
        fault = self._begin(kind, duration_s=duration_s)
        fault.started_at = _now()
        set_link(False)

        def restore(f: Fault) -> None:
            set_link(True)
            f.ended_at = _now()

        return self._timed(fault, duration_s, restore)

    def dns_failure(self, duration_s: float) -> Fault:
        """dnsmasq killed alone (DNS and DHCP gone); the gateway still routes."""
        lab = self.lab
        fault = self._begin("dns_failure", duration_s=duration_s)
        fault.started_at = _now()
        lab.stop_dnsmasq(crash=True)

        def restore(f: Fault) -> None:
            lab.start_dnsmasq()
            f.ended_at = _now()

        return self._timed(fault, duration_s, restore)

    # -- the hub ------------------------------------------------------------------------------------------------
    def hub_unplugged(self, duration_s: float) -> Fault:
        """The hub's network cable pulled: its router port down, so the hub's interface loses carrier (and the
        devices lose the hub's broker); plugged back after ``duration_s``."""
        return self._link_cut("hub_unplugged", duration_s, self.lab.hub_cable)

    def hub_disk_full(self, duration_s: float | None = None) -> Fault:
        """The hub's disk (``lab.hub_disk()``) filled to the last byte; freed after ``duration_s``, or by
        :meth:`hub_disk_freed` when None."""
        filler = self.lab.hub_disk() / ".filler"
        fault = self._begin("hub_disk_full", duration_s=duration_s)
        fault.started_at = _now()
        fault.details["filled_bytes"] = fill_filesystem(filler)
        if duration_s is None:
            self._open[("disk", "")] = fault
            return fault
        return self._timed(fault, duration_s, lambda f: filler.unlink(missing_ok=True))

    def hub_disk_freed(self) -> Fault | None:
        """Free what :meth:`hub_disk_full` took; ends that fault (returned)."""
        (self.lab.hub_disk() / ".filler").unlink(missing_ok=True)
        return self._end_open(("disk", ""))

    # -- the broker ----------------------------------------------------------------------------------------------
    def broker_crash(self, duration_s: float | None = None) -> Fault:
        """SIGKILL the hub's Mosquitto. It stays down until :meth:`broker_restart` (or ``duration_s``)."""
        lab = self.lab
        fault = self._begin("broker_crash", duration_s=duration_s)
        fault.started_at = _now()
        if lab.broker is not None and lab.broker.running:
            lab.broker.kill()
        elif lab.attached_broker_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(lab.attached_broker_pid, signal.SIGKILL)
            lab.attached_broker_pid = None
            lab.save_state()
        else:
            raise LabError("the lab has no running broker (start_broker())")
        if duration_s is None:
            self._open[("broker", "")] = fault
            return fault
        return self._timed(fault, duration_s, lambda f: self._start_broker())

    def broker_login_required(self) -> Fault:
        """The hub's Mosquitto restarts admitting only users it knows, and it knows none: every client, the
        agent included, is refused ("not authorised") while the broker itself runs. Ended by
        :meth:`broker_login_dropped`."""
        lab = self.lab
        if lab.broker is None:
            raise LabError("the lab has no broker of its own (start_broker())")
        passwords = lab.workdir / "broker" / "passwords"
        passwords.write_text("")
        fault = self._begin("broker_login_required")
        fault.started_at = _now()
        self._restart_broker(passwords)
        self._open[("login", "")] = fault
        return fault

    def broker_login_dropped(self) -> Fault | None:
        """Anyone may connect again (broker restarted); ends the open ``broker_login_required`` fault."""
        if self.lab.broker is not None:
            self._restart_broker(None)
        return self._end_open(("login", ""))

    def _restart_broker(self, password_file: Path | None) -> None:
        """Restart the hub's Mosquitto admitting only the users of ``password_file`` (None: anyone)."""
        assert self.lab.broker is not None
        self.lab.broker.require_login(password_file)
        self.lab.broker.kill()
        self._start_broker()

    def _start_broker(self) -> None:
        self.lab.start_broker(self.lab.broker_port)

    def broker_restart(self) -> Fault | None:
        """Start the broker again; ends the open ``broker_crash`` fault (returned)."""
        self._start_broker()
        return self._end_open(("broker", ""))

    # -- devices -----------------------------------------------------------------------------------------------
    def device_power_off(self, name: str, *, graceless: bool = False) -> Fault:
        """The device loses power: its simulator is killed and its link goes down.

        By default the kernel closes the simulator's TCP connection first, so the broker publishes the will at
        once; ``graceless`` cuts the link first, so the broker only notices after the MQTT keepalive (like a
        real power cut)."""
        lab = self.lab
        device = lab.devices[name]
        fault = self._begin("device_power_off", name=name, graceless=graceless)
        fault.started_at = _now()
        if graceless:
            lab.device_link(name, False)
            lab.stop_simulator(name, crash=True)
        else:
            lab.stop_simulator(name, crash=True)
            lab.device_link(name, False)
        device.powered = False
        lab.save_state()
        self._open[("power", name)] = fault
        return fault

    def device_power_on(self, name: str) -> Fault | None:
        """Power back: link up, the simulator boots (uptime 0, boot count + 1, power-on restart reason)."""
        lab = self.lab
        device = lab.devices[name]
        lab.device_link(name, True)
        device.boot_count += 1
        device.powered = True
        lab.start_simulator(name, POWER_ON_REASON.get(device.spec.family))
        return self._end_open(("power", name))

    def device_weak_signal(self, name: str, duration_s: float | None = None) -> Fault:
        """The device's Wi-Fi signal drops to ``WEAK_RSSI_DBM`` (it stays connected) and its reports say so;
        back to normal after ``duration_s`` (never, when None)."""
        lab = self.lab
        process = lab.devices[name].process
        if process is None:
            raise LabError(f"device {name!r} is powered off")
        fault = self._begin("device_weak_signal", name=name, rssi_dbm=WEAK_RSSI_DBM, duration_s=duration_s)
        fault.started_at = _now()
        process.signal(signal.SIGUSR1)
        if duration_s is None:
            fault._finish()
            return fault
        return self._timed(fault, duration_s, lambda f: process.signal(signal.SIGUSR2))

    def device_crash_loop(
        self, name: str, restarts: int, interval_s: float, *, restart_reason: str | None = None
    ) -> Fault:
        """The device crashes ``restarts`` times, ``interval_s`` apart: each time its simulator is killed and
        boots again with uptime 0, boot count + 1 and a crash restart reason (the family's own wording)."""
        lab = self.lab
        device = lab.devices[name]
        reason = restart_reason or CRASH_REASON.get(device.spec.family, "crash")
        fault = self._begin("device_crash_loop", name=name, restarts=restarts, interval_s=interval_s, reason=reason)
        fault.details["restarts_at"] = []

        def crash_once() -> None:
            lab.stop_simulator(name, crash=True)
            device.boot_count += 1
            lab.start_simulator(name, reason)
            fault.details["restarts_at"].append(_now().isoformat())

        def run() -> None:
            try:
                for index in range(restarts):
                    if index and fault._cancel.wait(interval_s):
                        break
                    crash_once()
                lab.save_state()
            except BaseException as exc:
                fault.error = exc
                logger.exception("lab %s: crash loop of %s failed", lab.id, name)
            finally:
                fault._finish()

        fault._thread = threading.Thread(target=run, name="lab-fault-crash-loop", daemon=True)
        fault._thread.start()
        return fault

    # -- the hub's clock -----------------------------------------------------------------------------------------
    def hub_clock_step(self, seconds: float) -> Fault:
        """Step the hub's wall clock by ``seconds`` (negative = backwards) through the clock-offset file the
        agent reads (``HOMEDIAG_CLOCK_OFFSET_FILE``); the machine's real clock is never touched."""
        lab = self.lab
        fault = self._begin("hub_clock_step", seconds=seconds)
        offset = read_clock_offset(lab.clock_offset_file) + seconds
        # Atomic: the agent never reads half a number. Readable by all: the agent may run as another user.
        write_atomically(lab.clock_offset_file, f"{offset}\n".encode(), mode=0o644)
        fault.started_at = _now()
        fault.details["offset_s"] = offset
        fault._finish()
        fault.ended_at = fault.started_at
        return fault


def read_clock_offset(path: os.PathLike[str] | str) -> float:
    """The reference reader of the clock-offset contract: a missing or malformed file means no offset."""
    try:
        return float(Path(path).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0.0
