"""The home's inventory: one entry per physical device, merged across discovery sources.

Adapters describe what they saw as ``DeviceUpdate``s (pure data). ``InventoryStore.observe`` merges an update
into the device it belongs to — found by any of its keys (MAC, IEEE address, a family's own id) — and
returns the timeline events the change implies: a device seen for the first time, online/offline with the
source that said so, a reboot (uptime going backwards, a higher boot counter, a restart reason), a Wi-Fi
reconnect (link count rising while uptime keeps rising), a firmware change, a weak signal.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.atomic_file import write_atomically
from shared.models import Device, EventKind, EventState, Inventory, TimelineEvent, utcnow

_LOGGER = logging.getLogger(__name__)

RECENT_MESSAGES = 5
WEAK_SIGNAL_DBM = -80.0
ARP_SOURCE = "arp"
_MISSING = object()  # an attribute the device has not had
REBOOT_DEBOUNCE = timedelta(seconds=5)  # one boot announces itself several ways (uptime, INFO3, boot count)
UPTIME_SLACK_S = 5.0  # how far a boot time worked out from two uptime readings may wobble
# A boot announced by a message (a reset reason in the boot log, Tasmota's INFO3) comes some seconds after the boot
# itself (Wi-Fi, then MQTT): an announcement this close after a boot already counted is that same boot.
ANNOUNCED_BOOT_WINDOW = timedelta(seconds=15)


class DropReason(StrEnum):
    """Why an update about a device the inventory did not know was not kept."""

    CAP_BARE_ANNOUNCEMENT = "turned away: a bare announcement (no state, availability or telemetry)"
    CAP_NOTHING_TO_EVICT = "turned away: every device kept shows signs of life"
    EVICTED_BARE_ANNOUNCEMENT = "evicted: a bare announcement, for a device showing signs of life"


MAX_UPTIME_S = 100 * 365 * 86400.0


def normalise_mac(value: str) -> str | None:
    hexdigits = "".join(c for c in value.lower() if c in "0123456789abcdef")
    if len(hexdigits) != 12:
        return None
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


@dataclass(frozen=True)
class DeviceUpdate:
    """What one message said about one device. ``keys`` identify it; the first strong one names it."""

    keys: tuple[str, ...]
    source: str
    family: str | None = None
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    macs: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    parent_key: str | None = None
    available: bool | None = None
    uptime_s: float | None = None
    restart_reason: str | None = None
    boot_seq: int | None = None
    rssi_dbm: float | None = None
    link_quality: int | None = None
    link_count: int | None = None
    # Only a booting device sends this message (ESPHome's reset-reason log line, Tasmota's INFO3, a Zigbee device
    # announce): it is a reboot signal even without any uptime.
    boot_announced: bool = False
    # Printed while booting, but printed again when a log viewer asks for the configuration (ESPHome's reset reason
    # in its configuration dump): a reboot signal only for a device that reports no uptime, which would tell.
    boot_logged: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)
    message: str | None = None  # a short form of the raw message, for "the last messages from that device"

    def __post_init__(self) -> None:
        # An uptime no device can have (negative, or beyond any clock's reach) is no reading: it would also make
        # the boot time it implies unrepresentable.
        if self.uptime_s is not None and not 0 <= self.uptime_s <= MAX_UPTIME_S:
            object.__setattr__(self, "uptime_s", None)

    def shows_life(self) -> bool:
        """State, availability or telemetry: more than a bare announcement (which anyone can flood)."""
        return (
            self.available is True
            or self.boot_announced
            or self.boot_logged
            or any(
                value is not None
                for value in (self.uptime_s, self.rssi_dbm, self.link_quality, self.link_count, self.boot_seq)
            )
        )


# The fields a device takes from an update as they are, when the update says them.
_RECORDED_AS_SAID = (
    "name",
    "family",
    "manufacturer",
    "model",
    "firmware",
    "available",
    "uptime_s",
    "restart_reason",
    "rssi_dbm",
    "link_quality",
)

_Value = TypeVar("_Value")


def _hand_over(table: dict[str, _Value], old: str, new: str) -> None:
    """A merged device's entry goes to the device it merged into, unless that one has its own."""
    if old in table:
        table.setdefault(new, table.pop(old))


def with_changes(device: Device, changes: dict[str, Any]) -> Device:
    """``device.model_copy(update=changes)`` without pydantic's generic copying (a ``copy.copy`` of each of its
    internal dicts and sets): a new ``Device`` per message is much of discovery's cost. ``Device`` forbids extra
    fields and has no private attributes, so its state is its ``__dict__`` and the set of fields set."""
    copied = Device.__new__(Device)
    object.__setattr__(copied, "__dict__", {**device.__dict__, **changes})
    object.__setattr__(copied, "__pydantic_fields_set__", device.__pydantic_fields_set__ | changes.keys())
    object.__setattr__(copied, "__pydantic_extra__", None)
    object.__setattr__(copied, "__pydantic_private__", None)
    return copied


def may_reveal_reboot(device: Device, update: DeviceUpdate) -> bool:
    """A boot counter, a boot announced or logged, or an uptime lower than the last: the only updates that can tell
    of a reboot (``InventoryStore._reboot_analysis`` finds none in any other)."""
    return (
        update.boot_seq is not None
        or update.boot_announced
        or update.boot_logged
        or (update.uptime_s is not None and device.uptime_s is not None and update.uptime_s < device.uptime_s)
    )


def device_id_for(update: DeviceUpdate) -> str:
    macs = [m for m in (normalise_mac(mac) for mac in update.macs) if m]
    if macs:
        return f"mac:{macs[0]}"
    return update.keys[0]


class InventoryStore:
    """The inventory in memory, persisted as JSON (``save`` is blocking: call it from a thread)."""

    def __init__(self, path: Path | None = None, *, max_devices: int = 5000) -> None:
        self.path = path
        self.max_devices = max_devices
        self._devices: dict[str, Device] = {}
        self._key_index: dict[str, str] = {}
        self._ip_index: dict[str, str] = {}  # last device seen at each address
        self._recent: dict[str, deque[dict[str, Any]]] = {}
        self._last_reboot: dict[str, datetime] = {}
        self._last_boot: dict[str, datetime] = {}  # when each device's last counted boot happened
        self._boot_seq: dict[str, int] = {}
        self.revision = 0  # counts changes worth saving (more than last_seen moving on)
        self._uptime_at: dict[str, datetime] = {}  # when each device's current uptime_s was read
        self._reason_at: dict[str, datetime] = {}  # when each device last reported a restart reason
        self._link_count: dict[str, int] = {}
        self._alive: set[str] = set()  # devices that showed signs of life, kept over bare announcements at the cap
        # Devices whose availability (either way) a message stated since this store was opened: the one click
        # stops listening once every device it knew has said it.
        self.availability_heard: set[str] = set()
        self._heard_more = asyncio.Event()
        self.dropped: Counter[DropReason] = Counter()
        self._last_iso: tuple[datetime | None, str] = (None, "")

    @property
    def dropped_updates(self) -> int:
        return sum(self.dropped.values())

    @classmethod
    def open(cls, path: Path, *, max_devices: int = 5000) -> InventoryStore:
        store = cls(path, max_devices=max_devices)
        store.load()
        return store

    # -- persistence ------------------------------------------------------------------------------------------
    def load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            inventory = Inventory.model_validate_json(self.path.read_bytes())
        except (OSError, ValidationError) as exc:
            _LOGGER.warning("inventory %s unreadable, starting empty: %s", self.path, exc)
            return
        for device in inventory.devices[: self.max_devices]:
            self._devices[device.id] = device
            if device.available is not None or any(
                value is not None for value in (device.uptime_s, device.rssi_dbm, device.link_quality)
            ):
                self._alive.add(device.id)  # it showed life before the agent restarted
            for key in [device.id, *device.identifiers]:
                self._key_index[key] = device.id
            for ip in device.ips:
                self._ip_index[ip] = device.id

    def save(self, inventory: Inventory | None = None) -> None:
        """Write ``inventory`` (default: a snapshot now) atomically. Blocking; while the event loop still feeds the
        store, take the snapshot on the loop and pass it in."""
        if self.path is None:
            return
        # The helper removes a half-written copy on a full disk: it would only take the space others need.
        write_atomically(self.path, (inventory or self.snapshot()).model_dump_json(indent=1).encode())

    # -- queries ----------------------------------------------------------------------------------------------
    def snapshot(self) -> Inventory:
        return Inventory(generated_at=utcnow(), devices=sorted(self._devices.values(), key=lambda d: d.id))

    def get(self, device_id: str) -> Device | None:
        found = self._key_index.get(device_id, device_id)
        return self._devices.get(found)

    def recent_messages(self, device_id: str) -> list[dict[str, Any]]:
        device = self.get(device_id)
        return list(self._recent.get(device.id, ())) if device else []

    def __len__(self) -> int:
        return len(self._devices)

    # -- merging ----------------------------------------------------------------------------------------------
    @staticmethod
    def _keys_of(update: DeviceUpdate) -> list[str]:
        return [*update.keys, *(f"mac:{m}" for m in (normalise_mac(x) for x in update.macs) if m)]

    def _find(self, update: DeviceUpdate, keys: list[str]) -> str | None:
        found = [self._key_index[key] for key in keys if key in self._key_index]
        if found:
            first = found[0]
            if all(device_id == first for device_id in found):
                return first  # keys that all name one device (a device's every report after its first)
            return self._join(list(dict.fromkeys(found)))
        if update.source == ARP_SOURCE:
            # ARP knows the MAC behind an address: it completes a device seen without one (mDNS-only devices).
            for ip in update.ips:
                candidate = self._ip_index.get(ip)
                if candidate is not None and not self._devices[candidate].macs:
                    return candidate
        return None

    def _join(self, device_ids: list[str]) -> str:
        """One update names devices seen apart so far (a Zigbee device through Zigbee2MQTT and through Home Assistant
        discovery): they are one. The survivor is the one named by a MAC, else the first seen."""
        devices = sorted(
            (self._devices[d] for d in device_ids), key=lambda d: (not d.id.startswith("mac:"), d.first_seen, d.id)
        )
        survivor, others = devices[0], devices[1:]
        for other in others:
            survivor = self._absorb(survivor, other)
        return survivor.id

    def _absorb(self, survivor: Device, other: Device) -> Device:
        def union(current: list[str], extra: list[str]) -> list[str]:
            return current + [value for value in extra if value not in current]

        del self._devices[other.id]
        for key, device_id in list(self._key_index.items()):
            if device_id == other.id:
                self._key_index[key] = survivor.id
        self._key_index[other.id] = survivor.id
        for ip, device_id in list(self._ip_index.items()):
            if device_id == other.id:
                self._ip_index[ip] = survivor.id
        for device in self._devices.values():
            if device.parent_id == other.id:
                self._devices[device.id] = device.model_copy(update={"parent_id": survivor.id})
        for table in (self._last_reboot, self._last_boot, self._uptime_at, self._reason_at):
            _hand_over(table, other.id, survivor.id)
        for counters in (self._boot_seq, self._link_count):
            _hand_over(counters, other.id, survivor.id)
        _hand_over(self._recent, other.id, survivor.id)
        for heard in (self._alive, self.availability_heard):
            if other.id in heard:
                heard.add(survivor.id)
            heard.discard(other.id)
        changes: dict[str, Any] = {
            "identifiers": union(survivor.identifiers, [other.id, *other.identifiers]),
            "macs": union(survivor.macs, other.macs),
            "ips": union(survivor.ips, other.ips),
            "services": union(survivor.services, other.services),
            "sources": union(survivor.sources, other.sources),
            "names": union(survivor.names, other.names),
            "attributes": other.attributes | survivor.attributes,
            "first_seen": min(survivor.first_seen, other.first_seen),
            "last_seen": max(survivor.last_seen, other.last_seen),
        }
        for name in (
            "name",
            "family",
            "manufacturer",
            "model",
            "firmware",
            "hardware",
            "parent_id",
            "available",
            "uptime_s",
            "restart_reason",
            "rssi_dbm",
            "link_quality",
        ):
            if getattr(survivor, name) is None and getattr(other, name) is not None:
                changes[name] = getattr(other, name)
        changes["identifiers"] = [i for i in changes["identifiers"] if i != survivor.id]
        merged = survivor.model_copy(update=changes)
        self._devices[survivor.id] = merged
        self.revision += 1
        return merged

    def _make_room(self, update: DeviceUpdate) -> bool:
        """At the cap a device showing signs of life takes the place of the oldest bare announcement."""
        if not update.shows_life():
            self.dropped[DropReason.CAP_BARE_ANNOUNCEMENT] += 1
            return False
        bare = [d for d in self._devices.values() if d.id not in self._alive]
        if not bare:
            self.dropped[DropReason.CAP_NOTHING_TO_EVICT] += 1
            return False
        self._forget(min(bare, key=lambda d: (d.last_seen, d.id)).id)
        self.dropped[DropReason.EVICTED_BARE_ANNOUNCEMENT] += 1
        self._log_drops()
        return True

    def _forget(self, device_id: str) -> None:
        del self._devices[device_id]
        for index in (self._key_index, self._ip_index):
            for key in [k for k, v in index.items() if v == device_id]:
                del index[key]
        for table in (
            self._last_reboot,
            self._last_boot,
            self._boot_seq,
            self._uptime_at,
            self._reason_at,
            self._link_count,
            self._recent,
        ):
            table.pop(device_id, None)  # type: ignore[attr-defined]

    def _log_drops(self) -> None:
        dropped = self.dropped_updates
        if dropped & (dropped - 1) == 0:  # 1, 2, 4, 8…: a flood is logged a few dozen times, not per message
            _LOGGER.warning(
                "inventory full (%d devices), %d updates about unknown devices at the cap: %s",
                self.max_devices,
                dropped,
                self.drop_summary(),
            )

    def drop_summary(self) -> str:
        """How many updates about unknown devices the cap turned away, and why; empty when none."""
        return "; ".join(f"{count} × {reason.value}" for reason, count in sorted(self.dropped.items()))

    async def availability_of(self, device_ids: set[str]) -> None:
        """Returns once each of ``device_ids`` has stated its availability since the store was opened (discovery's
        sources observe on the event loop)."""
        while not device_ids <= self.availability_heard:
            self._heard_more.clear()
            await self._heard_more.wait()

    def observe(self, update: DeviceUpdate, at: datetime) -> list[TimelineEvent]:
        new_keys = self._keys_of(update)
        device_id = self._find(update, new_keys)
        events: list[TimelineEvent] = []
        is_new = device_id is None
        if device_id is None:
            if len(self._devices) >= self.max_devices and not self._make_room(update):
                self._log_drops()
                return []
            device_id = device_id_for(update)
            self._devices[device_id] = Device(id=device_id, first_seen=at, last_seen=at)
            events.append(self._event(at, EventKind.DEVICE_JOINED, EventState.DISCOVERED, update, device_id, {}))
        device = self._devices[device_id]
        if device_id not in self._alive and update.shows_life():
            self._alive.add(device_id)
        if update.available is not None and device_id not in self.availability_heard:
            self.availability_heard.add(device_id)
            self._heard_more.set()
        for key in new_keys:
            self._key_index[key] = device_id
        for ip in update.ips:
            self._ip_index[ip] = device_id
        events += self._changes(device, update, at, is_new)
        if events:
            self.revision += 1
        self._devices[device_id] = self._merged(device, update, at, new_keys)
        if update.message is not None:
            self._recent.setdefault(device_id, deque(maxlen=RECENT_MESSAGES)).append(
                {"ts": self._iso(at), "source": update.source, "message": update.message[:500]}
            )
        return events

    def _iso(self, at: datetime) -> str:
        """``at.isoformat()``, once for the many messages of a batch (they share their arrival time)."""
        if self._last_iso[0] is not at:
            self._last_iso = (at, at.isoformat())
        return self._last_iso[1]

    def _merged(self, device: Device, update: DeviceUpdate, at: datetime, keys: list[str]) -> Device:
        """The device with what ``update`` adds. Only the fields it changes are built and copied: a device repeats
        the same state every few seconds, and building every list and dict again for each message would be most
        of discovery's cost. Still a new ``Device`` (snapshots handed to other threads share the old one)."""
        changes: dict[str, Any] = {"last_seen": at}

        def add(name: str, current: list[str], extra: Iterable[str | None]) -> None:
            new = [value for value in extra if value and value not in current]
            if new:
                changes[name] = current + list(dict.fromkeys(new))

        add("identifiers", device.identifiers, (k for k in keys if k != device.id))
        if update.macs:
            add("macs", device.macs, (normalise_mac(x) for x in update.macs))
        if update.ips:
            add("ips", device.ips, update.ips)
        if update.services:
            add("services", device.services, update.services)
        for name, value in (("sources", update.source), ("names", update.name)):
            current = device.__dict__[name]
            if value and value not in current:
                changes[name] = [*current, value]
        if update.attributes and any(device.attributes.get(k, _MISSING) != v for k, v in update.attributes.items()):
            changes["attributes"] = device.attributes | update.attributes
        said, known = update.__dict__, device.__dict__
        for name in _RECORDED_AS_SAID:
            value = said[name]
            if value is not None and value != known[name]:
                changes[name] = value
        if update.parent_key:
            parent = self._key_index.get(update.parent_key) or update.parent_key
            if parent != device.parent_id:
                changes["parent_id"] = parent
        return with_changes(device, changes)

    def _changes(self, device: Device, update: DeviceUpdate, at: datetime, is_new: bool) -> list[TimelineEvent]:
        events = []
        did = device.id
        if update.available is not None and update.available != device.available:
            events.append(
                self._event(
                    at,
                    EventKind.DEVICE_AVAILABILITY,
                    EventState.ONLINE if update.available else EventState.OFFLINE,
                    update,
                    did,
                    {},
                )
            )
        reboot = self._reboot_reason(device, update, at, is_new)
        if reboot is not None:
            detail, boot_at = reboot
            last = self._last_reboot.get(did)
            if last is None or at - last > REBOOT_DEBOUNCE:
                self._last_reboot[did] = at
                self._last_boot[did] = boot_at
                events.append(self._event(at, EventKind.DEVICE_REBOOT, EventState.REBOOTED, update, did, detail))
        if update.boot_seq is not None:
            self._boot_seq[did] = update.boot_seq
        if update.uptime_s is not None:
            self._uptime_at[did] = at
        if update.restart_reason is not None:
            self._reason_at[did] = at
        if update.link_count is not None:
            previous = self._link_count.get(did)
            uptime_rose = (
                update.uptime_s is not None and device.uptime_s is not None and update.uptime_s >= device.uptime_s
            )
            if previous is not None and update.link_count > previous and uptime_rose:
                events.append(
                    self._event(
                        at,
                        EventKind.WIFI_RECONNECT,
                        EventState.RECONNECTED,
                        update,
                        did,
                        {"link_count": update.link_count},
                    )
                )
            self._link_count[did] = update.link_count
        if update.firmware and device.firmware and update.firmware != device.firmware:
            events.append(
                self._event(
                    at,
                    EventKind.FIRMWARE_CHANGED,
                    EventState.CHANGED,
                    update,
                    did,
                    {"from": device.firmware, "to": update.firmware},
                )
            )
        if update.rssi_dbm is not None:
            weak_now, weak_before = update.rssi_dbm <= WEAK_SIGNAL_DBM, (device.rssi_dbm or 0) <= WEAK_SIGNAL_DBM
            if weak_now != weak_before or (device.rssi_dbm is None and weak_now):
                events.append(
                    self._event(
                        at,
                        EventKind.WIFI_SIGNAL,
                        EventState.WEAK if weak_now else EventState.OK,
                        update,
                        did,
                        {"rssi_dbm": update.rssi_dbm},
                    )
                )
        return events

    def _reboot_reason(
        self, device: Device, update: DeviceUpdate, at: datetime, is_new: bool
    ) -> tuple[dict[str, Any], datetime] | None:
        """The reboot this update reveals — its detail and when the boot happened — or None."""
        if not may_reveal_reboot(device, update):
            return None  # a device's steady report: the analysis below is for the few that may tell of a boot
        return self._reboot_analysis(device, update, at, is_new)

    def _reboot_analysis(
        self, device: Device, update: DeviceUpdate, at: datetime, is_new: bool
    ) -> tuple[dict[str, Any], datetime] | None:
        """``_reboot_reason`` for any update, steady or not."""
        boot_at = at - timedelta(seconds=update.uptime_s or 0.0)
        reason = update.restart_reason
        reason_at = self._reason_at.get(device.id)
        if reason is None and reason_at is not None and reason_at >= boot_at - timedelta(seconds=UPTIME_SLACK_S):
            reason = device.restart_reason  # said since this boot by another message (ESPHome's boot log, INFO3)
        previous_seq = self._boot_seq.get(device.id)
        if update.boot_seq is not None and previous_seq is not None and update.boot_seq > previous_seq:
            return {"boot_seq": update.boot_seq, "reason": reason}, boot_at
        if (update.boot_announced or (update.boot_logged and device.id not in self._uptime_at)) and not is_new:
            if timedelta(0) <= at - device.first_seen <= ANNOUNCED_BOOT_WINDOW:
                return None  # the boot that brought a new device to us (its first messages came a moment ago)
            last_boot = self._last_boot.get(device.id)
            if last_boot is not None and timedelta(0) <= at - last_boot <= ANNOUNCED_BOOT_WINDOW:
                return None  # the boot already counted, announcing itself once more
            if device.uptime_s is not None and update.uptime_s is None and self._uptime_at.get(device.id):
                # A device that reports uptime: announced long after its boot means the announcement is of that boot.
                previous_boot = self._uptime_at[device.id] - timedelta(seconds=device.uptime_s)
                if at - previous_boot <= ANNOUNCED_BOOT_WINDOW:
                    return None
            return {"reason": reason or "boot announced", "signal": update.source}, at
        if update.uptime_s is None or device.uptime_s is None or update.uptime_s >= device.uptime_s:
            return None
        # Uptime went down. It is a reboot when the boot time it implies moved later, so a short-lived boot
        # (uptime 3 s, then 0 again) counts as well as a long one. The previous reading's time is unknown
        # after an agent restart; last_seen is no earlier, so the check errs towards "no reboot".
        previous_at = self._uptime_at.get(device.id, device.last_seen)
        boot_moved_s = (at - previous_at).total_seconds() - (update.uptime_s - device.uptime_s)
        if boot_moved_s <= UPTIME_SLACK_S:
            return None
        last_boot = self._last_boot.get(device.id)
        if last_boot is not None and timedelta(0) <= last_boot - boot_at <= ANNOUNCED_BOOT_WINDOW:
            return None  # the boot its own announcement already counted, seen now through uptime
        return {"uptime_s": update.uptime_s, "previous_uptime_s": device.uptime_s, "reason": reason}, boot_at

    @staticmethod
    def _event(
        at: datetime, kind: EventKind, state: EventState, update: DeviceUpdate, device_id: str, detail: dict[str, Any]
    ) -> TimelineEvent:
        return TimelineEvent(
            ts=at,
            kind=kind,
            state=state,
            source=update.source,
            device_id=device_id,
            detail={k: v for k, v in detail.items() if v is not None},
        )
