"""Fault rules: when a fault starts and ends, what it is, and whether it earns a bundle.

``FaultEngine`` is a state machine without I/O: feed it timeline events (``observe``) and the time
(``tick``); it answers with the timeline events to record and the captures to make. The runtime does the I/O.

- A **network fault** opens at the first check going down and closes when every check is back; its signature
  comes from ``outages.classify`` at close. When the hub's link was down and the router speaks UPnP, the close
  waits (at most ``BOOT_ID_WAIT``, see ``expire``) for the router's BOOTID: a new one is a router reboot, the
  same one means the router stayed up and the hub's own link failed.
- A **device fault** opens when a device goes offline while the network is fine (it is not the router's
  doing), and closes when it comes back; ``device_crash_loop`` when a device restarts ``crash_loop_restarts``
  times within ``crash_loop_window_s``. An absence of at most ``RESTART_ABSENCE`` that ends in the device's
  reboot is a restart, ``device_reboot:<device>``, not an offline fault; its capture waits out the crash-loop
  window, so the restarts of a loop become one ``device_crash_loop`` capture (restarts and absences inside it
  are absorbed, and restarts soon after it join it), never a stray offline or restart bundle each.
- A network fault still open after ``ongoing_after_s`` is captured at once as ``<cause>:ongoing`` (the cause as
  it looks so far): the evidence is frozen while the network is down, and the outbox delivers it when it
  returns, even if the hub loses power before the fault ends. The full story still follows at the close.
- A closed fault is captured ``after_s`` later, with ``before_s`` of history. A fault with the same signature
  that starts before that capture is merged into it; one that closes within ``group_window_s`` of the last
  capture of its signature is grouped (recorded, not uploaded again): no bundle storms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.models import EventKind, EventState, RootCause, TimelineEvent

from .config import CaptureConfig
from .outages import BOOT_ID_WAIT, NETWORK_KINDS, Outage, announced, classify
from .outages import REBOOT_ABSENCE as RESTART_ABSENCE

CUTS_DEVICES_OFF = frozenset({"hub_link", "gateway", "broker"})
# A network fault's capture waits for the devices that dropped with it to come back, at most this long.
DEVICE_RETURN_WAIT = timedelta(minutes=5)
SOURCE = "agent.faults"


@dataclass(frozen=True)
class Capture:
    """Freeze [start - before, end + after] into a bundle."""

    signature: str
    root_cause: RootCause
    start: datetime
    end: datetime
    occurrences: int
    devices: tuple[str, ...] = ()


@dataclass
class _Pending:
    signature: str
    root_cause: RootCause
    start: datetime
    end: datetime
    due: datetime
    occurrences: int = 1
    devices: tuple[str, ...] = ()
    network: bool = False


@dataclass
class _NetworkFault:
    start: datetime
    down: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    boot_id_changed: bool = False
    router_same: bool = False  # the router answered with its old BOOTID when the gateway came back
    announced: bool = False
    ongoing_captured: bool = False


class FaultEngine:
    def __init__(self, config: CaptureConfig) -> None:
        self._before = timedelta(seconds=config.before_s)
        self._after = timedelta(seconds=config.after_s)
        self._group = timedelta(seconds=config.group_window_s)
        self._grace = timedelta(seconds=config.device_grace_s)
        self._loop_restarts = config.crash_loop_restarts
        self._loop_window = timedelta(seconds=config.crash_loop_window_s)
        self._ongoing = timedelta(seconds=config.ongoing_after_s) if config.ongoing_after_s else None
        self._network: _NetworkFault | None = None
        self._network_ended: datetime | None = None
        self._offline: dict[str, datetime] = {}  # device → since, for devices down on their own
        self._dropped: set[str] = set()  # devices that went offline with the network and are not back yet
        self._byebye: datetime | None = None  # the gateway's last ssdp:byebye
        self._router_upnp = False  # the router has told its BOOTID
        self._held: tuple[_NetworkFault, datetime] | None = None  # back, waiting for the router's BOOTID
        self._restarts: dict[str, list[datetime]] = {}
        self._returned: dict[str, tuple[datetime, datetime]] = {}  # device → (away since, back at): a restart?
        self._booted_away: dict[str, datetime] = {}  # device → a reboot it reported while still away
        self._looping: dict[str, datetime] = {}  # device → its crash loop's last restart
        self._pending: list[_Pending] = []
        self._last_capture: dict[str, datetime] = {}

    @property
    def before(self) -> timedelta:
        return self._before

    @property
    def after(self) -> timedelta:
        return self._after

    # -- input ------------------------------------------------------------------------------------------------
    def observe(self, event: TimelineEvent) -> list[TimelineEvent]:
        """Fold one timeline event in; returns FAULT events to record (never called with FAULT events)."""
        if event.kind is EventKind.FAULT:
            return []
        name = NETWORK_KINDS.get(event.kind)
        if name is not None:
            held = self._release(stayed_up=False) if event.state is EventState.DOWN else []
            return held + self._network_event(name, event)
        if event.kind is EventKind.ROUTER_BOOT_ID:
            return self._boot_id(event)
        if event.kind is EventKind.DEVICE_AVAILABILITY and event.device_id:
            return self._availability(event)
        if event.kind is EventKind.DEVICE_REBOOT and event.device_id:
            return self._reboot(event)
        return []

    def _boot_id(self, event: TimelineEvent) -> list[TimelineEvent]:
        if event.state is EventState.BYEBYE:
            self._byebye = event.ts
            return []
        self._router_upnp = True
        if event.state is EventState.CHANGED and self._network is not None:
            self._network.boot_id_changed = True
        if event.state is EventState.SAME and self._network is not None:
            self._network.router_same = True
        if event.state is EventState.CHANGED and self._held is not None:
            self._held[0].boot_id_changed = True
        return (
            self._release(stayed_up=event.state is EventState.SAME)
            if event.state in (EventState.CHANGED, EventState.SAME)
            else []
        )

    def _release(self, stayed_up: bool) -> list[TimelineEvent]:
        """Close the network fault held for the router's word."""
        if self._held is None:
            return []
        (fault, end), self._held = self._held, None
        return [self._close_network(fault, end, stayed_up)]

    def expire(self, now: datetime) -> list[TimelineEvent]:
        """FAULT events of faults whose wait is over: for the router's word (it never answered), for a returned
        device's reboot report (none came: it was away, not restarting)."""
        out = []
        for device, (since, back) in list(self._returned.items()):
            if now - back > RESTART_ABSENCE:
                del self._returned[device]
                out += self._offline_closed(device, since, back)
        if self._held is not None and now - self._held[1] >= BOOT_ID_WAIT:
            out += self._release(stayed_up=False)
        return out

    def _close_network(self, fault: _NetworkFault, end: datetime, stayed_up: bool) -> TimelineEvent:
        outage = Outage(fault.start, end, frozenset(fault.seen), fault.boot_id_changed, fault.announced, stayed_up)
        cause = classify(outage)
        return self._close(cause.value, cause, fault.start, end, {"down": sorted(fault.seen)}, network=True)

    def _network_event(self, name: str, event: TimelineEvent) -> list[TimelineEvent]:
        if event.state is EventState.DOWN:
            if self._network is None:
                self._network = _NetworkFault(event.ts, announced=announced(self._byebye, event.ts))
                self._network.down.add(name)
                self._network.seen.add(name)
                return [self._fault_event(event.ts, EventState.OPENED, "network", {"first": name})]
            self._network.down.add(name)
            self._network.seen.add(name)
            return []
        if event.state is not EventState.UP or self._network is None or name not in self._network.down:
            return []
        self._network.down.discard(name)
        if self._network.down:
            return []
        fault, self._network = self._network, None
        if fault.seen & CUTS_DEVICES_OFF:
            self._network_ended = event.ts
        if "hub_link" in fault.seen and self._router_upnp and not fault.boot_id_changed and not fault.router_same:
            self._held = (fault, event.ts)
            return []
        return [self._close_network(fault, event.ts, stayed_up=fault.router_same and not fault.boot_id_changed)]

    def _network_quiet(self, at: datetime) -> bool:
        """No fault that cuts devices off the home broker is open or just over (a DNS or WAN fault does not)."""
        if self._network is not None and self._network.seen & CUTS_DEVICES_OFF:
            return False
        return self._network_ended is None or at - self._network_ended > self._grace

    def _availability(self, event: TimelineEvent) -> list[TimelineEvent]:
        device = event.device_id
        assert device is not None
        if event.state is EventState.OFFLINE:
            returned = self._returned.pop(device, None)  # away again before any reboot report: it was away
            earlier = self._offline_closed(device, *returned) if returned is not None else []
            if self._network_quiet(event.ts) and device not in self._offline:
                self._offline[device] = event.ts
                return [
                    *earlier,
                    self._fault_event(event.ts, EventState.OPENED, f"device_offline:{device}", {"device": device}),
                ]
            if not self._network_quiet(event.ts):
                self._dropped.add(device)
            return earlier
        if event.state is EventState.ONLINE and device in self._dropped:
            self._dropped.discard(device)
            for pending in self._pending:
                if pending.network:  # the capture shows the device's return
                    pending.due = max(pending.due, event.ts + self._after)
        since = self._offline.pop(device, None) if event.state is EventState.ONLINE else None
        if since is None:
            return []
        booted = self._booted_away.pop(device, None)
        if event.ts - since > RESTART_ABSENCE:
            return self._offline_closed(device, since, event.ts)
        if booted is not None:
            return self._restart(device, since, booted)
        self._returned[device] = (since, event.ts)  # its reboot report may follow the return: wait for it
        return []

    def _offline_closed(self, device: str, since: datetime, back: datetime) -> list[TimelineEvent]:
        return [
            self._close(
                f"device_offline:{device}", RootCause.DEVICE_OFFLINE, since, back, {"device": device}, devices=(device,)
            )
        ]

    def _reboot(self, event: TimelineEvent) -> list[TimelineEvent]:
        device = event.device_id
        assert device is not None
        out: list[TimelineEvent] = []
        if device in self._offline:
            self._booted_away[device] = event.ts
        returned = self._returned.pop(device, None)
        recent = [ts for ts in self._restarts.get(device, []) if event.ts - ts <= self._loop_window] + [event.ts]
        self._restarts[device] = recent
        loop_end = self._looping.get(device)
        if len(recent) >= self._loop_restarts or (loop_end is not None and event.ts - loop_end <= self._loop_window):
            self._restarts[device] = []
            return out + self._crash_loop(
                device, recent[0] if returned is None else min(recent[0], returned[0]), event.ts, len(recent)
            )
        if returned is not None and event.ts - returned[1] <= RESTART_ABSENCE:
            out += self._restart(device, returned[0], event.ts)
        elif returned is not None:
            out += self._offline_closed(device, *returned)
        return out

    def _restart(self, device: str, since: datetime, rebooted: datetime) -> list[TimelineEvent]:
        """A short absence ending in a reboot: its capture waits out the crash-loop window."""
        closed = self._close(
            f"device_reboot:{device}", RootCause.DEVICE_REBOOT, since, rebooted, {"device": device}, devices=(device,)
        )
        for pending in self._pending:
            if pending.signature == f"device_reboot:{device}":
                pending.due = max(pending.due, pending.end + self._loop_window)
        return [closed]

    def _crash_loop(self, device: str, start: datetime, end: datetime, restarts: int) -> list[TimelineEvent]:
        """The loop absorbs the device's pending restart and offline captures and its current absence."""
        absorbed = [p for p in self._pending if p.signature in (f"device_reboot:{device}", f"device_offline:{device}")]
        self._pending = [p for p in self._pending if p not in absorbed]
        self._offline.pop(device, None)
        self._booted_away.pop(device, None)
        self._looping[device] = end
        start = min([start, *(p.start for p in absorbed)])
        closed = self._close(
            f"device_crash_loop:{device}",
            RootCause.DEVICE_CRASH_LOOP,
            start,
            end,
            {"device": device, "restarts": restarts, "absorbed": sorted({p.signature for p in absorbed})},
            devices=(device,),
        )
        for pending in self._pending:
            if pending.signature == closed.detail["signature"]:
                pending.occurrences += sum(p.occurrences for p in absorbed)
        return [closed]

    def _close(
        self,
        signature: str,
        cause: RootCause,
        start: datetime,
        end: datetime,
        detail: dict[str, object],
        devices: tuple[str, ...] = (),
        network: bool = False,
    ) -> TimelineEvent:
        for pending in self._pending:
            if pending.signature == signature:
                pending.end, pending.occurrences = max(pending.end, end), pending.occurrences + 1
                pending.due = pending.end + self._after
                return self._fault_event(
                    end, EventState.CLOSED, signature, detail | {"merged": True, "started": start.isoformat()}
                )
        last = self._last_capture.get(signature)
        if last is not None and end - last <= self._group:
            return self._fault_event(
                end,
                EventState.CLOSED,
                signature,
                detail | {"grouped": True, "started": start.isoformat(), "last_capture": last.isoformat()},
            )
        self._pending.append(
            _Pending(signature, cause, start, end, end + self._after, devices=devices, network=network)
        )
        return self._fault_event(
            end,
            EventState.CLOSED,
            signature,
            detail | {"started": start.isoformat(), "capture_due_s": self._after.total_seconds()},
        )

    @staticmethod
    def _fault_event(at: datetime, state: EventState, signature: str, detail: dict[str, object]) -> TimelineEvent:
        return TimelineEvent(
            ts=at, kind=EventKind.FAULT, state=state, source=SOURCE, detail={"signature": signature, **detail}
        )

    def restore(self, history: list[TimelineEvent], captured: dict[str, datetime]) -> None:
        """After a restart: replay recent history to recover open faults, minus what was already captured."""
        self._last_capture.update(captured)
        for event in sorted(history, key=lambda e: e.ts):
            self.observe(event)
        self._pending = [p for p in self._pending if p.signature not in captured or captured[p.signature] < p.end]

    # -- time -------------------------------------------------------------------------------------------------
    def tick(self, now: datetime) -> list[Capture]:
        """Captures whose settling time has passed (for network faults: once the dropped devices are back)."""

        def ready(p: _Pending) -> bool:
            waiting = p.network and self._dropped and now < p.end + DEVICE_RETURN_WAIT
            return p.due <= now and not waiting

        due = [p for p in self._pending if ready(p)]
        self._pending = [p for p in self._pending if not ready(p)]
        for pending in due:
            self._last_capture[pending.signature] = now
        captures = [
            Capture(
                p.signature,
                p.root_cause,
                p.start - self._before,
                max(p.end + self._after, p.due),
                p.occurrences,
                p.devices,
            )
            for p in due
        ]
        return captures + self._ongoing_capture(now)

    def _ongoing_capture(self, now: datetime) -> list[Capture]:
        fault = self._network
        if fault is None or self._ongoing is None or fault.ongoing_captured or now - fault.start < self._ongoing:
            return []
        fault.ongoing_captured = True
        cause = classify(Outage(fault.start, None, frozenset(fault.seen), fault.boot_id_changed, fault.announced))
        return [Capture(f"{cause.value}:ongoing", cause, fault.start - self._before, now, 1)]

    @property
    def network_troubled(self) -> bool:
        """A network fault is open, or just over and waiting for the router's word."""
        return self._network is not None or self._held is not None

    @property
    def open_faults(self) -> list[str]:
        return (["network"] if self._network is not None else []) + [f"device_offline:{d}" for d in self._offline]
