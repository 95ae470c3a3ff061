"""The agent's configuration: one YAML file validated by pydantic.

Every field is documented in docs/configuration.md with its default. Environment
variables override the file: ``HOMEDIAG_<SECTION>__<FIELD>`` (e.g.
``HOMEDIAG_COLLECTOR__URL``); values are parsed as YAML scalars/lists.

Nothing is probed that the configuration does not name: the defaults name no
interface, no gateway and no probe target.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.broker_url import checked_broker_url
from shared.settings import deep_merge, env_overrides, read_yaml_mapping, validate_settings

from .errors import ConfigError

ENV_PREFIX = "HOMEDIAG_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectorConfig(_Section):
    url: str = Field(default="http://127.0.0.1:8470", description="base URL of the collector")
    timeout_s: float = Field(default=15.0, gt=0)
    ca_file: Path | None = Field(
        default=None,
        description="CA certificate(s) an https:// collector's certificate must chain to; none = the system's",
    )


class NetworkConfig(_Section):
    interfaces: list[str] = Field(
        default_factory=list, description="interfaces the agent watches and may probe; empty = none"
    )
    gateway: str | None = Field(default=None, description="gateway IPv4 address probed by ICMP/ARP; none = not probed")
    dns_resolver: str | None = Field(
        default=None, description="resolver address queried for DNS checks; none = not probed"
    )
    dns_names: list[str] = Field(default_factory=list, description="names resolved by the DNS check")
    internet_targets: list[str] = Field(
        default_factory=list, description="'host:port' TCP targets (or bare IPs for ICMP) for the internet check"
    )
    ssdp: bool = Field(
        default=True,
        description="listen (passively) for the gateway's SSDP announcements on the configured interfaces to notice router reboots by BOOTID",
    )


class ProbeConfig(_Section):
    interval_s: float = Field(default=2.0, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)
    failures_before_down: int = Field(default=2, ge=1)
    arp: bool = Field(
        default=True,
        description="also probe the gateway by ARP (raw packet socket on the first configured interface); falls back to ICMP alone",
    )
    health_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="how often hub health (CPU, memory, disk, temperatures, interface errors) is sampled",
    )


class BrokerConfig(_Section):
    url: str | None = Field(
        default=None,
        description="home MQTT broker, mqtt://host[:1883] or mqtts://host[:8883] (TLS); none = MQTT discovery off",
    )
    ca_file: Path | None = Field(
        default=None,
        description="CA certificate(s) an mqtts:// broker's certificate must chain to; none = the system's",
    )
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)

    check_url = field_validator("url")(checked_broker_url)


class DiscoveryConfig(_Section):
    @model_validator(mode="before")
    @classmethod
    def _one_base(cls, data: Any) -> Any:
        """The older single ``zigbee2mqtt_base`` still names one bridge."""
        if isinstance(data, dict) and "zigbee2mqtt_base" in data:
            data = dict(data)
            base = data.pop("zigbee2mqtt_base")
            data.setdefault("zigbee2mqtt_bases", [base] if isinstance(base, str) else base)
        return data

    mdns: bool = True
    mdns_addresses: list[str] = Field(
        default_factory=list,
        description="IPv4 addresses zeroconf binds to; empty = the configured interfaces' addresses",
    )
    mdns_extra_types: list[str] = Field(default_factory=list)
    arp: bool = True
    homeassistant_prefix: str = "homeassistant"
    zigbee2mqtt_bases: list[str] = Field(
        default_factory=lambda: ["zigbee2mqtt"], description="Zigbee2MQTT base topics (one per bridge)"
    )
    zigbee2mqtt_autodetect: bool = Field(
        default=True, description="also follow any other bridge that announces itself on '<base>/bridge/info'"
    )
    tasmota_discovery_prefix: str = "tasmota/discovery"
    max_devices: int = Field(default=5000, ge=1)
    max_payload_bytes: int = Field(default=256 * 1024, ge=1024)


class CaptureConfig(_Section):
    before_s: float = Field(default=600.0, ge=0, description="evidence kept before a fault starts")
    after_s: float = Field(default=120.0, ge=0, description="evidence kept after a fault ends")
    group_window_s: float = Field(
        default=3600.0, ge=0, description="the same fault signature within this window is grouped, not re-uploaded"
    )
    device_grace_s: float = Field(
        default=90.0,
        ge=0,
        description="a device going offline this soon after a network fault is part of it (MQTT wills arrive a keep-alive late)",
    )
    crash_loop_restarts: int = Field(
        default=3, ge=2, description="this many reboots of one device within crash_loop_window_s is a crash loop"
    )
    crash_loop_window_s: float = Field(default=600.0, gt=0)
    ongoing_after_s: float = Field(
        default=300.0,
        ge=0,
        description="a network fault still open this long is also captured as it stands: the evidence so far, frozen while the network is down and uploaded when it returns (0 = never)",
    )


class SpoolConfig(_Section):
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_files: int = Field(default=200, ge=1)
    max_rejected: int = Field(
        default=20, ge=0, description="bundles the collector refused for good, kept in spool/rejected/ for inspection"
    )


class UploadConfig(_Section):
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)
    wait_s: float = Field(
        default=20.0,
        ge=0,
        description="how long 'bundle create --upload' and 'bundle flush' wait for delivery before leaving the bundle queued",
    )


class RedactionConfig(_Section):
    enabled: bool = True
    extra_secret_keys: list[str] = Field(default_factory=list, description="more key names whose values are secrets")
    keep_private_ips: bool = Field(default=False, description="leave RFC 1918 addresses unreplaced")


class RecorderConfig(_Section):
    max_events: int = Field(default=100_000, ge=100)
    max_log_lines: int = Field(default=50_000, ge=100)
    max_age_s: float = Field(default=7 * 86400.0, gt=0)


class WebConfig(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8471, ge=0, le=65535)
    language: Literal["auto", "en", "zh"] = "auto"
    pairing: Literal["auto", "always"] = Field(
        default="auto",
        description="auto: a phone or computer other than the hub itself needs a pairing code (homediag-agent web pair) when host is not loopback; always: every visitor does (the page behind a proxy on the hub)",
    )
    send_wait_s: float = Field(
        default=5.0,
        ge=0,
        description="how long the page waits for the collector before it says 'saved, sent when the internet is back' and follows the delivery",
    )


class LiveConfig(_Section):
    consent: Literal["off", "ask", "allowed"] = "off"
    broker_url: str | None = Field(
        default=None,
        description="the support broker (MQTT v5) instead of the one enrolment named; credentials come from enrolment",
    )
    ca_file: Path | None = Field(
        default=None,
        description="CA certificate(s) an mqtts:// support broker's certificate must chain to; none = the system's",
    )

    check_broker_url = field_validator("broker_url")(checked_broker_url)


class MetricsConfig(_Section):
    enabled: bool = Field(default=False, description="serve Prometheus metrics on http://127.0.0.1:PORT/metrics")
    port: int = Field(default=8472, ge=0, le=65535, description="always bound to the loopback interface")


class AgentConfig(_Section):
    state_dir: Path = Field(
        default=Path("/var/lib/homediag"), description="identity, spool, recorder and inventory live here"
    )
    collector: CollectorConfig = Field(default_factory=CollectorConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    probes: ProbeConfig = Field(default_factory=ProbeConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    upload: UploadConfig = Field(default_factory=UploadConfig)
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    recorder: RecorderConfig = Field(default_factory=RecorderConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    firmware_profiles: Path | None = Field(
        default=None, description="profile directory; none = the profiles shipped with homediag"
    )


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Read, merge with the environment, validate. Raises ConfigError with one readable line."""
    data = read_yaml_mapping(path, ConfigError) if path is not None else {}
    data = deep_merge(data, env_overrides(os.environ if environ is None else environ, ENV_PREFIX, AgentConfig))
    return validate_settings(AgentConfig, data, ConfigError)
