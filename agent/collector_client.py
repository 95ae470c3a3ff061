"""The agent's HTTP client for the collector: enrolment and bundle upload.

``interpret_upload`` decides what an upload answer means (a pure function over status, headers and body);
``CollectorClient`` is the thin aiohttp edge around it. Errors of the transport (refused connection,
timeout, 5xx) become ``CollectorUnavailable``: the caller tries again later. aiohttp (about 12 MB resident) is
imported, and the session opened, at the first request: a hub without the local page carries it only once it
has something to send.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pydantic import ValidationError

from shared.models import utcnow

from .config import AgentConfig
from .errors import AgentError, CollectorRejected, CollectorUnavailable
from .identity import Enrollment

if TYPE_CHECKING:
    import aiohttp

_LOGGER = logging.getLogger(__name__)

BUNDLE_CONTENT_TYPE = "application/vnd.homediag.bundle+gzip"
ENROLL_PATH = "/api/v1/enroll"
BUNDLES_PATH = "/api/v1/bundles"
DEFAULT_RETRY_AFTER_S = 60.0


def collector_url(config: AgentConfig, enrollment: Enrollment) -> str:
    """Where bundles go: ``collector.url`` if the configuration sets it, else the collector the agent enrolled with.

    Only the collector that enrolled the agent knows its key, so by default bundles follow the enrolment.
    """
    if "url" in config.collector.model_fields_set:
        return config.collector.url
    return enrollment.collector_url


class UploadOutcome(StrEnum):
    DELIVERED = "delivered"  # the collector has the bundle (new or already had it): delete it locally
    REJECTED = "rejected"  # final: the collector will never take these bytes; keep them aside with the reason
    RETRY_AFTER = "retry_after"  # rate limited: try again after retry_after_s


@dataclass(frozen=True)
class UploadResult:
    outcome: UploadOutcome
    status: int
    bundle_id: str | None = None
    ticket_id: str | None = None
    code: str | None = None
    message: str | None = None
    retry_after_s: float | None = None
    already_stored: bool = False


def _error_of(body: Any) -> tuple[str, str]:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or "unknown"), str(error.get("message") or "")
    return "unknown", ""


def parse_retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (delta-seconds form); a missing or odd value gets a safe default."""
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S
    return max(0.0, seconds)


def interpret_upload(status: int, headers: Mapping[str, str], body: Any) -> UploadResult:
    """What an answer to ``POST /api/v1/bundles`` means for the bundle.

    Raises ``CollectorUnavailable`` for 5xx and for statuses the contract does not name: trying again later
    is the only safe move then (the collector's idempotency by bundle id makes a repeat harmless).
    """
    if status in (200, 201):
        fields = body if isinstance(body, dict) else {}
        ticket = fields.get("ticket_id")
        return UploadResult(
            UploadOutcome.DELIVERED,
            status,
            bundle_id=fields.get("bundle_id"),
            ticket_id=None if ticket is None else str(ticket),
            already_stored=status == 200,
        )
    code, message = _error_of(body)
    if status == 429:
        return UploadResult(
            UploadOutcome.RETRY_AFTER,
            status,
            code=code,
            message=message,
            retry_after_s=parse_retry_after(headers.get("Retry-After")),
        )
    if status == 409:
        return UploadResult(
            UploadOutcome.REJECTED,
            status,
            code=code if code != "unknown" else "bundle_conflict",
            message=message or "another bundle with this id holds different bytes",
        )
    if status == 413:
        return UploadResult(
            UploadOutcome.REJECTED,
            status,
            code=code if code != "unknown" else "bundle_too_large",
            message=message or "the collector refuses bundles this large",
        )
    if status in (400, 403, 422):
        return UploadResult(UploadOutcome.REJECTED, status, code=code, message=message)
    raise CollectorUnavailable(f"collector answered {status} {code}: {message}".rstrip(": "))


class CollectorClient:
    """An aiohttp session to one collector; ``async with CollectorClient(url) as client``."""

    def __init__(self, base_url: str, *, timeout_s: float = 15.0, ca_file: Path | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._ca_file = ca_file
        self._entered = False
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, config: AgentConfig, base_url: str) -> CollectorClient:
        return cls(base_url, timeout_s=config.collector.timeout_s, ca_file=config.collector.ca_file)

    async def __aenter__(self) -> Self:
        self._entered = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._entered = False
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open_session(self) -> aiohttp.ClientSession:
        import aiohttp  # deferred to the first request: see the module docstring

        if self._session is None:
            # https:// verifies the collector's certificate: against ca_file if given, else the system's CAs.
            verify = True if self._ca_file is None else ssl.create_default_context(cafile=str(self._ca_file))
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout_s), connector=aiohttp.TCPConnector(ssl=verify)
            )
        return self._session

    async def _post(self, path: str, **kwargs: Any) -> tuple[int, Mapping[str, str], Any]:
        import aiohttp  # deferred to the first request: see the module docstring

        if not self._entered:
            raise AgentError("CollectorClient used outside 'async with'")
        session = self._open_session()
        url = self.base_url + path
        try:
            async with session.post(url, **kwargs) as response:
                raw = await response.read()
                return response.status, response.headers, _json_or_none(raw)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CollectorUnavailable(f"cannot reach the collector at {url}: {exc or type(exc).__name__}") from exc

    async def enroll(self, token: str, public_key: str, hostname: str) -> Enrollment:
        """Exchange a one-time token for an agent id in a household. 4xx → ``CollectorRejected``."""
        status, _headers, body = await self._post(
            ENROLL_PATH,
            json={"token": token, "public_key": public_key, "hostname": hostname},
        )
        if status >= 500:
            raise CollectorUnavailable(f"collector answered {status} to the enrolment")
        if status not in (200, 201):
            code, message = _error_of(body)
            raise CollectorRejected(status, code, message)
        fields = body if isinstance(body, dict) else {}
        try:
            return Enrollment.model_validate(  # the collector's answer is input: validated, not trusted
                {
                    "agent_id": fields.get("agent_id"),
                    "household": fields.get("household"),
                    "pseudonym_key": fields.get("pseudonym_key"),
                    "collector_url": self.base_url,
                    "enrolled_at": utcnow(),
                    "live": fields.get("live"),
                }
            )
        except ValidationError as exc:
            raise AgentError(f"the collector's enrolment answer is invalid: {exc.errors()[0]['msg']}") from exc

    async def upload(self, bundle: bytes) -> UploadResult:
        status, headers, body = await self._post(
            BUNDLES_PATH,
            data=bundle,
            headers={"Content-Type": BUNDLE_CONTENT_TYPE},
        )
        result = interpret_upload(status, headers, body)
        _LOGGER.debug("upload answered %s: %s", status, result.outcome)
        return result


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
