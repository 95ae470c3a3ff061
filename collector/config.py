"""The collector's configuration: an optional YAML file plus command-line and environment overrides.

Every field is documented in docs/configuration.md. Environment variables override the file:
``HOMEDIAG_COLLECTOR_<SECTION>__<FIELD>`` (e.g. ``HOMEDIAG_COLLECTOR_RATE_LIMIT__BURST=5``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from datetime import date, time
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator, model_validator

from shared.broker_url import checked_broker_url
from shared.models import Priority
from shared.settings import deep_merge, env_overrides, read_yaml_mapping, validate_settings

from .blobs import BlobLocation, S3Location, parse_blobs_url
from .errors import ConfigError
from .live_broker import check_relay_user
from .support.calendar import BusinessCalendar
from .support.policy import check_target

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
    verify_workers: int = Field(
        default=2, ge=0, le=64, description="processes verifying bundles; 0 = one thread in the server process"
    )


class TicketConfig(_Section):
    attach_slack_s: float = Field(
        default=6 * 3600.0,
        ge=0,
        description="a bundle fits a ticket whose stated fault time is this close to its window",
    )
    attach_lookback_s: float = Field(
        default=14 * 86400.0,
        ge=0,
        description="without a stated fault time, bundles from this long before the ticket fit it",
    )
    redact_customer_text: bool = Field(
        default=False,
        description="intake and customers' notes go through the bundles' redaction rules, with the household's pseudonyms",
    )


class LiveBrokerConfig(_Section):
    url: str | None = Field(
        default=None,
        description="support broker for live state, mqtt://host:port or mqtts://host:port (TLS); none = live state off",
    )
    agent_url: str | None = Field(default=None, description="the broker's URL as agents reach it; none = url")
    ca_file: Path | None = Field(
        default=None,
        description="CA certificate(s) an mqtts:// broker's certificate must chain to; none = the system's",
    )
    username: str = Field(
        default="homediag-collector",
        description="this collector's relay account on the broker (also its client id and response subtree); give every replica its own",
    )
    password: str | None = Field(default=None, description="none = the collector generates one into the password file")
    accounts_dir: Path | None = Field(
        default=None, description="where the broker's password and ACL files are written; none = DATA_DIR/broker"
    )
    pid_file: Path | None = Field(default=None, description="the broker's pid file: SIGHUP after accounts change")
    reload_command: str | None = Field(default=None, description="run instead of SIGHUP after accounts change")
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)

    check_urls = field_validator("url", "agent_url")(checked_broker_url)
    check_username = field_validator("username")(check_relay_user)


class CalendarConfig(_Section):
    """A support group's own business calendar; unset fields follow the support organisation's."""

    timezone: str | None = None
    opens: time | None = None
    closes: time | None = None
    weekdays: list[int] | None = None
    holidays: list[date] | None = None


class PolicyConditions(_Section):
    """All given conditions must hold (an empty list does not restrict)."""

    channels: list[str] = Field(default_factory=list, description="the ticket's intake channel is one of these")
    devices: list[str] = Field(
        default_factory=list, description="the ticket's device contains one of these (case-insensitive)"
    )
    households: list[str] = Field(default_factory=list, description="e.g. the households of a premium tier")
    groups: list[str] = Field(
        default_factory=list, description="the support group the ticket was routed to when opened"
    )


class ServicePolicy(_Section):
    name: str = Field(min_length=1, max_length=100)
    conditions: PolicyConditions = Field(default_factory=PolicyConditions)
    targets: dict[Priority, dict[str, str | None]] = Field(
        default_factory=dict,
        description="per priority, target → '30m', '4h' or '2bd' (business days); null drops it; "
        "unlisted targets keep the default table's",
    )

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, targets: dict[Priority, dict[str, str | None]]) -> dict[Priority, dict[str, str | None]]:
        for levels in targets.values():
            for name, value in levels.items():
                check_target(name, value)
        return targets


class SupportConfig(_Section):
    timezone: str = Field(default="UTC", description="the support organisation's time zone (IANA name)")
    opens: time = Field(default=time(9, 0), description="business hours start (P2/P3 clocks run in business hours)")
    closes: time = Field(default=time(18, 0))
    weekdays: list[int] = Field(default=[0, 1, 2, 3, 4], description="business days, Monday = 0")
    holidays: list[date] = Field(default_factory=list)
    scan_interval_s: float = Field(default=60.0, gt=0, description="how often SLA warnings and breaches are looked for")
    policies: list[ServicePolicy] = Field(
        default_factory=list, description="ordered: the first whose conditions hold applies; none = the default table"
    )
    group_calendars: dict[str, CalendarConfig] = Field(
        default_factory=dict, description="business calendars of support groups"
    )

    def calendar(self, group: str | None = None) -> BusinessCalendar:
        """The organisation's calendar, or a group's own where it sets one."""
        own = self.group_calendars.get(group or "", CalendarConfig())
        return BusinessCalendar(
            own.timezone or self.timezone,
            own.opens or self.opens,
            own.closes or self.closes,
            frozenset(own.weekdays if own.weekdays is not None else self.weekdays),
            frozenset(own.holidays if own.holidays is not None else self.holidays),
        )


class WebConfig(_Section):
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="reverse proxies (addresses or networks) whose X-Forwarded-Proto and X-Forwarded-For are believed: the session cookie is marked Secure when such a proxy says https, and the client address it names is the one login throttling counts",
    )
    login_burst_per_account: int = Field(
        default=5,
        ge=1,
        description="wrong passwords for one account back to back before sign-in is throttled (429 + Retry-After)",
    )
    login_per_minute_per_account: float = Field(
        default=1.0, gt=0, description="then this many further attempts per minute for that account"
    )
    login_burst_per_address: int = Field(
        default=20, ge=1, description="wrong passwords from one client address back to back before it is throttled"
    )
    login_per_minute_per_address: float = Field(
        default=5.0, gt=0, description="then this many further attempts per minute from that address"
    )


class SmtpSecurity(StrEnum):
    NONE = "none"  # only for a relay on the same host
    STARTTLS = "starttls"  # plain connection upgraded with STARTTLS (port 587)
    TLS = "tls"  # TLS from the first byte (port 465)


class SmtpConfig(_Section):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = Field(default=None, description="authenticate (AUTH) when set")
    password: str | None = None
    sender: str = Field(min_length=3, description="the From address, e.g. support@example.com")
    ca_file: Path | None = Field(
        default=None, description="trust this CA (PEM) for the server's certificate; none = the system's"
    )
    timeout_s: float = Field(default=30.0, gt=0)


class WebhookEndpoint(_Section):
    name: str = Field(min_length=1, max_length=100, description="names the endpoint in the delivery log")
    url: str = Field(pattern=r"^https?://", description="where every ticket event is POSTed")
    secret: str = Field(min_length=16, description="this endpoint's own HMAC-SHA256 key")
    include_internal: bool = Field(
        default=False,
        description="also internal notes, assignments and SLA events (default: what the customer may see)",
    )


class NotifyConfig(_Section):
    email: SmtpConfig | None = Field(default=None, description="none = no e-mail is sent")
    webhooks: list[WebhookEndpoint] = Field(default_factory=list)
    public_url: str = Field(
        default="http://127.0.0.1:8470", description="the collector's address as customers reach it (links in messages)"
    )
    poll_interval_s: float = Field(
        default=2.0, gt=0, description="how often the outbox looks for new events and due jobs"
    )
    max_attempts: int = Field(default=10, ge=1, description="a job that failed this often stays in the log as failed")
    backoff_s: float = Field(default=30.0, gt=0, description="the first retry's delay; it doubles per attempt")
    backoff_max_s: float = Field(default=3600.0, gt=0)


class HelpdeskKind(StrEnum):
    REQUEST_TRACKER = "request_tracker"  # Request Tracker 5, REST 2
    ZENDESK = "zendesk"  # Zendesk Support API v2
    JIRA_SERVICE_MANAGEMENT = "jira_service_management"  # Jira Service Management Cloud, servicedeskapi


class HelpdeskConfig(_Section):
    """One helpdesk the support organisation works in; see docs/connectors.md."""

    name: str = Field(
        min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="names it in URLs and logs"
    )
    kind: HelpdeskKind
    url: str = Field(pattern=r"^https?://", description="base URL, e.g. https://example.zendesk.com")
    token: str = Field(min_length=1, description="RT: auth token; Zendesk and Jira: API token")
    user: str | None = Field(
        default=None, description="Zendesk and Jira: the agent's e-mail address the API token belongs to"
    )
    queue: str | None = Field(
        default=None,
        description="RT: queue name; Jira: service desk id; Zendesk: unused (default queue 'General' for RT)",
    )
    request_type: str | None = Field(default=None, description="Jira: the request type id new requests get")
    ticket_field: str | None = Field(
        default=None,
        description="the custom field holding the homediag ticket id (RT: field name; Zendesk: field id; Jira: customfield_NNNNN)",
    )
    household_field: str | None = Field(
        default=None,
        description="the field naming the household on tickets opened in the helpdesk (RT: CF name; Zendesk: field id; Jira: customfield_NNNNN)",
    )
    inbound_secret: str = Field(
        min_length=16,
        description="RT: the shared secret its scrip sends; Zendesk: the webhook's signing secret; Jira: the webhook secret",
    )
    create_tickets: bool = Field(
        default=True,
        description="open a helpdesk ticket for every new homediag ticket; off = only tickets opened in the helpdesk are linked",
    )
    max_attachment_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="larger bundles are sent as a signed, expiring download link"
    )
    min_interval_s: float = Field(
        default=0.2, ge=0, description="at least this long between two requests to this helpdesk (its rate limit)"
    )
    timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _what_the_kind_needs(self) -> HelpdeskConfig:
        if self.kind is not HelpdeskKind.REQUEST_TRACKER and not self.user:
            raise ValueError(f"a {self.kind} helpdesk needs user (the API token's e-mail address)")
        if self.kind is HelpdeskKind.JIRA_SERVICE_MANAGEMENT and not (self.queue and self.request_type):
            raise ValueError("a Jira Service Management helpdesk needs queue (service desk id) and request_type")
        if self.kind is HelpdeskKind.ZENDESK:
            for name in ("ticket_field", "household_field"):
                value = getattr(self, name)
                if value is not None and not value.isdecimal():
                    raise ValueError(f"Zendesk's {name} is a ticket field's numeric id")
        return self


class ConnectorsConfig(_Section):
    helpdesks: list[HelpdeskConfig] = Field(default_factory=list)
    download_link_ttl_s: float = Field(
        default=7 * 86400.0, gt=0, description="how long a download link in a helpdesk note stays valid"
    )
    inbound_max_skew_s: float = Field(
        default=300.0, gt=0, description="Zendesk: webhook timestamps older or newer than this are refused (replays)"
    )

    @field_validator("helpdesks")
    @classmethod
    def _unique_names(cls, helpdesks: list[HelpdeskConfig]) -> list[HelpdeskConfig]:
        names = [helpdesk.name for helpdesk in helpdesks]
        if len(names) != len(set(names)):
            raise ValueError("helpdesk names must be unique")
        return helpdesks

    def helpdesk(self, name: str) -> HelpdeskConfig | None:
        return next((helpdesk for helpdesk in self.helpdesks if helpdesk.name == name), None)


class S3Config(_Section):
    """How to reach the object store a ``blobs_url`` of ``s3://…`` names."""

    endpoint_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="the S3 API's address, e.g. https://s3.example.net or http://127.0.0.1:8080; none = AWS's",
    )
    region: str = Field(default="us-east-1", min_length=1, description="the region requests are signed for (SigV4)")
    access_key_id: str | None = Field(
        default=None, description="none = boto3's own lookup (AWS_ACCESS_KEY_ID, ~/.aws, instance role)"
    )
    secret_access_key: str | None = None
    timeout_s: float = Field(default=30.0, gt=0, description="connect and read timeout of each S3 request")

    @model_validator(mode="after")
    def _key_pair(self) -> S3Config:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together")
        return self


class MetricsConfig(_Section):
    enabled: bool = Field(default=True, description="serve Prometheus metrics on GET /metrics")
    token: str | None = Field(
        default=None,
        min_length=16,
        description="scrapers send Authorization: Bearer <token>; none = only clients on the loopback interface",
    )


class CollectorConfig(_Section):
    data_dir: Path = Field(default=Path("/var/lib/homediag-collector"), description="SQLite database and bundle blobs")
    database_url: str | None = Field(
        default=None,
        pattern=r"^postgres(ql)?://",
        description="PostgreSQL for metadata (postgresql://user:password@host/db), shared by several replicas; "
        "none = the SQLite file in data_dir",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8470, ge=0, le=65535)
    tls_certfile: Path | None = Field(
        default=None,
        description="serve HTTPS with this certificate chain (PEM); none = plain HTTP (behind a TLS proxy)",
    )
    tls_keyfile: Path | None = Field(default=None, description="the certificate's private key (PEM)")
    enrol_token_ttl_s: float = Field(default=7 * 86400.0, gt=0, description="default lifetime of enrolment tokens")
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    tickets: TicketConfig = Field(default_factory=TicketConfig)
    live: LiveBrokerConfig = Field(default_factory=LiveBrokerConfig)
    support: SupportConfig = Field(default_factory=SupportConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    connectors: ConnectorsConfig = Field(default_factory=ConnectorsConfig)
    blobs_url: str | None = Field(
        default=None,
        description="where bundle bytes live: none = DATA_DIR/blobs on the filesystem; s3://bucket/prefix = object "
        "storage reached as the s3 section says (uploads are still staged under DATA_DIR/staging)",
    )
    s3: S3Config = Field(default_factory=S3Config)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    @field_validator("blobs_url")
    @classmethod
    def _blobs_url(cls, url: str | None) -> str | None:
        if url is not None:
            parse_blobs_url(url)
        return url

    @model_validator(mode="after")
    def _drivers_installed(self) -> CollectorConfig:
        # psycopg and boto3 come with the package's `collector` extra, which a hub's install leaves out: say so at
        # start, not as an ImportError at the first query or upload.
        for setting, what, module in (
            (self.database_url, "PostgreSQL", "psycopg"),
            (self.blobs_url, "S3 object storage", "boto3"),
        ):
            if setting is not None and not _installed(module):
                raise ValueError(f"{what} needs {module}, which is not installed: pip install 'homediag[collector]'")
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> CollectorConfig:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        return self

    @property
    def database_path(self) -> Path:
        return self.data_dir / "collector.sqlite3"

    @property
    def blob_location(self) -> BlobLocation:
        if self.blobs_url is None:
            root = self.data_dir / "blobs"
            return BlobLocation(staging=root / ".incoming", fsync=self.ingest.fsync, root=root)
        bucket, prefix = parse_blobs_url(self.blobs_url)
        s3 = S3Location(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=self.s3.endpoint_url,
            region=self.s3.region,
            access_key_id=self.s3.access_key_id,
            secret_access_key=self.s3.secret_access_key,
            timeout_s=self.s3.timeout_s,
        )
        return BlobLocation(staging=self.data_dir / "staging", fsync=self.ingest.fsync, s3=s3)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        return False


def load_config(
    data_dir: Path | None, config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> CollectorConfig:
    """File (``--config``, else ``<data_dir>/collector.yaml`` if present) < environment < ``--data-dir``."""
    if config_file is None and data_dir is not None and (data_dir / CONFIG_NAME).is_file():
        config_file = data_dir / CONFIG_NAME
    data = read_yaml_mapping(config_file, ConfigError) if config_file is not None else {}
    data = deep_merge(data, env_overrides(os.environ if environ is None else environ, ENV_PREFIX, CollectorConfig))
    if data_dir is not None:
        data["data_dir"] = str(data_dir)
    return validate_settings(CollectorConfig, data, ConfigError)
