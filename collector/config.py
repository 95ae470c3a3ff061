"""The collector's configuration: an optional YAML file plus command-line and environment overrides.

Every field is documented in docs/configuration.md. Environment variables override the file:
``HOMEDIAG_COLLECTOR_<SECTION>__<FIELD>`` (e.g. ``HOMEDIAG_COLLECTOR_RATE_LIMIT__BURST=5``).
"""

from __future__ import annotations

import os
from datetime import date, time
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.broker_url import checked_broker_url
from shared.settings import deep_merge, env_overrides, read_yaml_mapping, validate_settings

from .errors import ConfigError
from .support.calendar import BusinessCalendar

ENV_PREFIX = "HOMEDIAG_COLLECTOR_"
CONFIG_NAME = "collector.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RateLimitConfig(_Section):
    burst: int = Field(default=60, ge=1, description="bundles an agent may upload back to back")
    per_minute: float = Field(default=60.0, gt=0, description="sustained bundles per minute per agent")


class IngestConfig(_Section):
    max_bundle_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, description="larger uploads get 413")
    max_uncompressed_bytes: int = Field(default=256 * 1024 * 1024, ge=1024, description="decompression-bomb limit")
    fsync: bool = Field(default=True, description="fsync each bundle blob before acknowledging it")
    verify_workers: int = Field(default=2, ge=0, le=64, description="processes verifying bundles; 0 = one thread in the server process")


class TicketConfig(_Section):
    attach_slack_s: float = Field(default=6 * 3600.0, ge=0, description="a bundle fits a ticket whose stated fault time is this close to its window")
    attach_lookback_s: float = Field(default=14 * 86400.0, ge=0, description="without a stated fault time, bundles from this long before the ticket fit it")
    redact_customer_text: bool = Field(default=False, description="intake and customers' notes go through the bundles' redaction rules, with the household's pseudonyms")


class LiveBrokerConfig(_Section):
    url: str | None = Field(default=None, description="support broker for live state, mqtt://host:port or mqtts://host:port (TLS); none = live state off")
    agent_url: str | None = Field(default=None, description="the broker's URL as agents reach it; none = url")
    ca_file: Path | None = Field(default=None, description="CA certificate(s) an mqtts:// broker's certificate must chain to; none = the system's")
    username: str = Field(default="homediag-collector", description="the collector's broker user")
    password: str | None = Field(default=None, description="none = the collector generates one into the password file")
    accounts_dir: Path | None = Field(default=None, description="where the broker's password and ACL files are written; none = DATA_DIR/broker")
    pid_file: Path | None = Field(default=None, description="the broker's pid file: SIGHUP after accounts change")
    reload_command: str | None = Field(default=None, description="run instead of SIGHUP after accounts change")
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)

    check_urls = field_validator("url", "agent_url")(checked_broker_url)


class SupportConfig(_Section):
    timezone: str = Field(default="UTC", description="the support organisation's time zone (IANA name)")
    opens: time = Field(default=time(9, 0), description="business hours start (P2/P3 clocks run in business hours)")
    closes: time = Field(default=time(18, 0))
    weekdays: list[int] = Field(default=[0, 1, 2, 3, 4], description="business days, Monday = 0")
    holidays: list[date] = Field(default_factory=list)
    scan_interval_s: float = Field(default=60.0, gt=0, description="how often SLA warnings and breaches are looked for")

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.timezone, self.opens, self.closes, frozenset(self.weekdays), frozenset(self.holidays))


class CollectorConfig(_Section):
    data_dir: Path = Field(default=Path("/var/lib/homediag-collector"), description="SQLite database and bundle blobs")
    host: str = "127.0.0.1"
    port: int = Field(default=8470, ge=0, le=65535)
    tls_certfile: Path | None = Field(default=None, description="serve HTTPS with this certificate chain (PEM); none = plain HTTP (behind a TLS proxy)")
    tls_keyfile: Path | None = Field(default=None, description="the certificate's private key (PEM)")
    enrol_token_ttl_s: float = Field(default=7 * 86400.0, gt=0, description="default lifetime of enrolment tokens")
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    tickets: TicketConfig = Field(default_factory=TicketConfig)
    live: LiveBrokerConfig = Field(default_factory=LiveBrokerConfig)
    support: SupportConfig = Field(default_factory=SupportConfig)

    @model_validator(mode="after")
    def _tls_pair(self) -> CollectorConfig:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        return self

    @property
    def database_path(self) -> Path:
        return self.data_dir / "collector.sqlite3"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


def load_config(data_dir: Path | None, config_file: Path | None = None,
                environ: Mapping[str, str] | None = None) -> CollectorConfig:
    """File (``--config``, else ``<data_dir>/collector.yaml`` if present) < environment < ``--data-dir``."""
    if config_file is None and data_dir is not None and (data_dir / CONFIG_NAME).is_file():
        config_file = data_dir / CONFIG_NAME
    data = read_yaml_mapping(config_file, ConfigError) if config_file is not None else {}
    data = deep_merge(data, env_overrides(os.environ if environ is None else environ, ENV_PREFIX, CollectorConfig))
    if data_dir is not None:
        data["data_dir"] = str(data_dir)
    return validate_settings(CollectorConfig, data, ConfigError)
