"""Models that cross between the agent and the collector.

The JSON Schemas in ``docs/schemas/`` are generated from these classes
(``python -m shared.schemas``); a test fails when they are stale.
Vocabularies (``RootCause``, ``EventKind``, ``EventState``) are extended, never renamed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT_VERSION: Final = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RootCause(StrEnum):
    """The fixed root-cause vocabulary of diagnosis reports (extend, never rename)."""

    ROUTER_REBOOT = "router_reboot"
    ROUTER_SCHEDULED_REBOOT = "router_scheduled_reboot"
    WAN_OUTAGE = "wan_outage"
    DNS_FAILURE = "dns_failure"
    HUB_LINK_DOWN = "hub_link_down"
    WIFI_WEAK_SIGNAL = "wifi_weak_signal"
    DEVICE_OFFLINE = "device_offline"
    DEVICE_REBOOT = "device_reboot"
    DEVICE_CRASH_LOOP = "device_crash_loop"
    BROKER_DOWN = "broker_down"
    BROKER_REFUSED = "broker_refused"  # the broker runs but will not let the hub in (credentials, access rules)
    HUB_REBOOT = "hub_reboot"
    HUB_POWER_LOSS = "hub_power_loss"
    FIRMWARE_KNOWN_ISSUE = "firmware_known_issue"
    CLOCK_JUMP = "clock_jump"
    HUB_DEGRADED = "hub_degraded"  # the hub itself short of storage or memory, or running hot
    HEALTHY = "healthy"


class Priority(StrEnum):
    """Support priority levels of the support process."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


class EventKind(StrEnum):
    """Kinds of timeline events. ``state`` says which way a transition went."""

    AGENT_START = "agent_start"  # the agent process started
    AGENT_STOP = "agent_stop"
    HUB_LINK = "hub_link"  # up / down
    HUB_ADDRESS = "hub_address"  # the hub's addresses or DHCP lease changed
    GATEWAY = "gateway"  # up / down
    DNS = "dns"  # up / down
    INTERNET = "internet"  # up / down
    BROKER = "broker"  # up / down
    ROUTER_BOOT_ID = "router_boot_id"  # SSDP BOOTID.UPNP.ORG changed
    DEVICE_AVAILABILITY = "device_availability"  # online / offline
    DEVICE_REBOOT = "device_reboot"
    WIFI_RECONNECT = "wifi_reconnect"  # reconnected without rebooting
    WIFI_SIGNAL = "wifi_signal"  # weak / ok
    FIRMWARE_CHANGED = "firmware_changed"
    DEVICE_JOINED = "device_joined"
    DEVICE_LEFT = "device_left"
    HUB_HEALTH = "hub_health"  # sampled figures, or ok / degraded
    HUB_BOOT = "hub_boot"  # the hub itself (re)booted
    CLOCK_JUMP = "clock_jump"
    FAULT = "fault"  # opened / closed


class EventState(StrEnum):
    """Which way a timeline event went. Each kind has its own few (``STATES_OF_KIND``); extend, never rename."""

    UP = "up"
    DOWN = "down"
    REFUSED = "refused"  # the broker answered the hub's login with a refusal
    ACCEPTED = "accepted"  # ... and lets it in again
    CHANGED = "changed"
    SEEN = "seen"  # a router BOOTID first seen
    SAME = "same"  # the router's BOOTID unchanged when asked again
    BYEBYE = "byebye"  # ssdp:byebye, a graceful shutdown
    ONLINE = "online"
    OFFLINE = "offline"
    REBOOTED = "rebooted"  # a device (uptime back to zero, boot count up, restart reason)
    RECONNECTED = "reconnected"
    DISCOVERED = "discovered"
    WEAK = "weak"
    OK = "ok"
    DEGRADED = "degraded"
    REBOOT = "reboot"  # the hub booted after a clean stop of the agent
    POWER_LOSS = "power_loss"  # the hub booted without one
    FORWARD = "forward"
    BACKWARD = "backward"
    OPENED = "opened"
    CLOSED = "closed"


_UP_DOWN = frozenset({EventState.UP, EventState.DOWN})

STATES_OF_KIND: dict[EventKind, frozenset[EventState]] = {
    EventKind.AGENT_START: frozenset(),
    EventKind.AGENT_STOP: frozenset(),
    EventKind.HUB_LINK: _UP_DOWN,
    EventKind.HUB_ADDRESS: frozenset({EventState.CHANGED}),
    EventKind.GATEWAY: _UP_DOWN,
    EventKind.DNS: _UP_DOWN,
    EventKind.INTERNET: _UP_DOWN,
    EventKind.BROKER: _UP_DOWN | {EventState.REFUSED, EventState.ACCEPTED},
    EventKind.ROUTER_BOOT_ID: frozenset({EventState.SEEN, EventState.CHANGED, EventState.SAME, EventState.BYEBYE}),
    EventKind.DEVICE_AVAILABILITY: frozenset({EventState.ONLINE, EventState.OFFLINE}),
    EventKind.DEVICE_REBOOT: frozenset({EventState.REBOOTED}),
    EventKind.WIFI_RECONNECT: frozenset({EventState.RECONNECTED}),
    EventKind.WIFI_SIGNAL: frozenset({EventState.WEAK, EventState.OK}),
    EventKind.FIRMWARE_CHANGED: frozenset({EventState.CHANGED}),
    EventKind.DEVICE_JOINED: frozenset({EventState.DISCOVERED}),
    EventKind.DEVICE_LEFT: frozenset(),
    EventKind.HUB_HEALTH: frozenset({EventState.OK, EventState.DEGRADED}),
    EventKind.HUB_BOOT: frozenset({EventState.REBOOT, EventState.POWER_LOSS}),
    EventKind.CLOCK_JUMP: frozenset({EventState.FORWARD, EventState.BACKWARD}),
    EventKind.FAULT: frozenset({EventState.OPENED, EventState.CLOSED}),
}
"""The states each kind may carry; a kind with none carries no state (``docs/timeline.md`` says what each means)."""


def _states_per_kind_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema says what ``STATES_OF_KIND`` says: per kind, which states (or none) ``state`` may be."""
    schema["allOf"] = [
        {
            "if": {"properties": {"kind": {"const": kind.value}}, "required": ["kind"]},
            "then": (
                {"properties": {"state": {"enum": sorted(state.value for state in states)}}, "required": ["state"]}
                if states
                else {"properties": {"state": {"type": "null"}}}
            ),
        }
        for kind, states in STATES_OF_KIND.items()
    ]


class TimelineEvent(_Frozen):
    """One thing that happened, at one time, seen by one source."""

    model_config = ConfigDict(json_schema_extra=_states_per_kind_schema)

    ts: AwareDatetime
    kind: EventKind
    state: EventState | None = None
    source: str = Field(description="who said so, e.g. 'monitor.gateway' or 'tasmota'")
    device_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _state_fits_kind(self) -> Self:
        allowed = STATES_OF_KIND[self.kind]
        if self.state not in allowed if allowed else self.state is not None:
            expected = " or ".join(sorted(allowed)) if allowed else "no state"
            raise ValueError(f"{self.kind} events have {expected}, not {self.state or 'no state'}")
        return self


class Device(_Model):
    """One physical device in the home's inventory, merged across discovery sources."""

    id: str = Field(description="stable id, derived from the strongest identifier seen")
    name: str | None = None
    names: list[str] = Field(default_factory=list)
    family: str | None = Field(default=None, description="e.g. tasmota, shelly_gen2, zigbee2mqtt, esphome, homekit")
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    hardware: str | None = None
    identifiers: list[str] = Field(
        default_factory=list, description="namespaced ids, e.g. 'ieee:0x00124b…', 'ha:kitchen'"
    )
    macs: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list, description="mDNS service types seen")
    sources: list[str] = Field(default_factory=list)
    parent_id: str | None = None
    available: bool | None = None
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    uptime_s: float | None = None
    restart_reason: str | None = None
    rssi_dbm: float | None = None
    link_quality: int | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class Inventory(_Model):
    """What ``homediag-agent discover --json`` prints and bundles carry as inventory.json."""

    generated_at: AwareDatetime
    devices: list[Device] = Field(default_factory=list)


class TriggerKind(StrEnum):
    FAULT = "fault"
    SELF_DIAGNOSIS = "self-diagnosis"
    ENGINEER_REQUEST = "engineer-request"
    MANUAL = "manual"


class Trigger(_Frozen):
    kind: TriggerKind
    signature: str | None = Field(default=None, description="fault signature, e.g. 'router_reboot'")
    urgent: bool = False
    open_ticket: bool = Field(default=False, description="the customer consented to opening a ticket with this bundle")
    priority: Priority | None = None
    summary: str | None = None


class CaptureWindow(_Frozen):
    start: AwareDatetime
    end: AwareDatetime

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: datetime, info: Any) -> datetime:
        start = info.data.get("start")
        if start is not None and end < start:
            raise ValueError("capture window ends before it starts")
        return end


class ManifestFile(_Frozen):
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class RedactionSummary(_Frozen):
    """What redaction replaced, by kind. Never contains an original value."""

    replaced: dict[str, int] = Field(
        default_factory=dict, description="pseudonymised values by kind: mac, ipv4, ipv6, ssid, hostname, email"
    )
    removed: dict[str, int] = Field(
        default_factory=dict, description="secrets removed by kind: password, token, url_credentials, psk, …"
    )


class BundleManifest(_Frozen):
    format_version: Literal[1] = FORMAT_VERSION
    bundle_id: uuid.UUID
    agent_id: str
    household: str
    created_at: AwareDatetime
    trigger: Trigger
    window: CaptureWindow
    files: list[ManifestFile]
    redaction: RedactionSummary


class Explanation(_Frozen):
    """The four parts of a diagnosis in plain language."""

    symptom: str
    root_cause: str
    solution: str
    risk: str


class Finding(_Model):
    root_cause: RootCause
    confidence: float = Field(ge=0.0, le=1.0)
    title: str
    explanation: Explanation
    translations: dict[str, Explanation] = Field(
        default_factory=dict, description="the explanation in other languages, by language tag"
    )
    evidence: list[TimelineEvent] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    expected: bool = Field(
        default=False,
        description="normal behaviour, reported for context (e.g. a device reconnecting after a router reboot)",
    )
    ongoing: bool = Field(
        default=False,
        description="the fault is still happening when the report is made (a check fails now, an outage is still open)",
    )
    occurrences: int = Field(
        default=1,
        ge=1,
        description="repeats merged into this finding; started_at is the first start, ended_at the last end",
    )


class DiagnosisReport(_Model):
    generated_at: AwareDatetime
    verdict: RootCause
    priority: Priority
    findings: list[Finding] = Field(default_factory=list)
    window: CaptureWindow | None = None
    checks: dict[str, Any] = Field(default_factory=dict, description="fresh check results when run live")


class LogLine(_Frozen):
    """One log line in the flight recorder (device logs over MQTT, Zigbee2MQTT bridge logging, the agent's own)."""

    ts: AwareDatetime
    source: str = Field(description="e.g. 'zigbee2mqtt', 'esphome', 'agent'")
    device_id: str | None = None
    level: str | None = None
    message: str
