"""The live channel: the agent dials out to the support broker and answers engineers' requests.

MQTT v5 request/response: a request arrives on ``homediag/agents/<id>/req/<method>`` with ResponseTopic and
CorrelationData; the answer goes to that response topic with the same correlation data. Presence is a retained
``online`` published on connect, with a retained ``offline`` as the will.

``answer`` decides (consent, method, params, deadline, size) and is tested without a broker; ``LiveChannel``
is the thin MQTT edge around it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from shared.aio import cancel_and_wait
from shared.atomic_file import write_atomically
from shared.broker_url import parse_broker_url
from shared.live import (
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    METHODS,
    STATUS_OFFLINE,
    STATUS_ONLINE,
    LiveErrorCode,
    LiveGrant,
    LiveRequest,
    LiveResponse,
    agent_tree,
    is_response_topic_of,
    status_topic,
)
from shared.models import utcnow
from shared.mqtt_session import MqttProtocol, MqttSession, NotConnected, Reconnect, Will

from .errors import AgentError

_LOGGER = logging.getLogger(__name__)

ConsentMode = Literal["off", "ask", "allowed"]


class LiveChannelError(AgentError):
    code = "live_channel_error"


class LiveHandlers(Protocol):
    """What the running agent offers to remote engineers; each returns plain JSON-able data."""

    async def inventory(self) -> Any: ...
    async def device_state(self, device_id: str) -> Any | None: ...
    async def timeline_recent(self, minutes: float) -> Any: ...
    async def probe_run(self) -> Any: ...
    async def diagnose(self) -> Any: ...
    async def bundle_capture(self, requested_by: str | None) -> Any: ...


@dataclass(frozen=True)
class Consent:
    """The customer's decision, held on the hub. ``granted_until`` is a temporary yes given while in ``ask``."""

    mode: ConsentMode
    granted_until: datetime | None = None

    def allows(self, now: datetime) -> bool:
        if self.mode == "allowed":
            return True
        return self.mode == "ask" and self.granted_until is not None and now < self.granted_until


class ConsentStore:
    """The customer's consent as last set on the hub, persisted in the state directory.

    The configuration gives the starting mode; the local page (or ``homediag-agent consent``) may change the mode
    or grant a temporary yes while in ``ask``. Reads are cheap, so every request sees the latest decision.
    """

    def __init__(self, state_dir: Path, configured: ConsentMode) -> None:
        self.path = state_dir / "live-consent.json"
        self.configured = configured

    def current(self) -> Consent:
        try:
            saved = json.loads(self.path.read_text())
            granted = saved.get("granted_until")
            return Consent(saved.get("mode", self.configured), datetime.fromisoformat(granted) if granted else None)
        except (OSError, ValueError, TypeError, AttributeError):
            return Consent(self.configured)

    def set(self, consent: Consent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        granted = consent.granted_until.isoformat() if consent.granted_until else None
        # 0600 and fsynced: the customer's decision must survive a power cut and is theirs alone to read.
        write_atomically(self.path, json.dumps({"mode": consent.mode, "granted_until": granted}).encode())

    def grant(self, minutes: float, now: datetime) -> Consent:
        consent = Consent("ask", now + timedelta(minutes=minutes))
        self.set(consent)
        return consent


def _consent_refusal(consent: Consent) -> LiveResponse:
    if consent.mode == "ask":
        return LiveResponse.failure(
            LiveErrorCode.CONSENT_PENDING,
            "the customer has not allowed remote access yet; they can allow it on the hub's local page",
        )
    return LiveResponse.failure(LiveErrorCode.CONSENT_REFUSED, "the customer has turned remote access off on the hub")


def _params_error(request: LiveRequest) -> str | None:
    if request.method == "device.state" and not isinstance(request.params.get("device_id"), str):
        return "device.state needs params.device_id (a string)"
    if request.method == "timeline.recent":
        minutes = request.params.get("minutes", 10)
        if not isinstance(minutes, int | float) or isinstance(minutes, bool) or not 0 < minutes <= 24 * 60:
            return "timeline.recent needs params.minutes between 0 and 1440"
    return None


async def _call(request: LiveRequest, handlers: LiveHandlers) -> Any:
    params = request.params
    match request.method:
        case "inventory":
            return await handlers.inventory()
        case "device.state":
            return await handlers.device_state(params["device_id"])
        case "timeline.recent":
            return await handlers.timeline_recent(float(params.get("minutes", 10)))
        case "probe.run":
            return await handlers.probe_run()
        case "diagnose":
            return await handlers.diagnose()
        case "bundle.capture":
            return await handlers.bundle_capture(request.requested_by)
    raise AssertionError(f"answer() let the unknown method {request.method!r} through")


async def answer(payload: bytes, consent: Consent, handlers: LiveHandlers, now: datetime) -> LiveResponse:
    """Decide the answer to one request payload. Never raises: every failure is an error answer."""
    if len(payload) > MAX_REQUEST_BYTES:
        return LiveResponse.failure(LiveErrorCode.BAD_REQUEST, f"request larger than {MAX_REQUEST_BYTES} bytes")
    try:
        request = LiveRequest.model_validate_json(payload)
    except ValidationError as exc:
        return LiveResponse.failure(LiveErrorCode.BAD_REQUEST, f"malformed request: {exc.errors()[0]['msg']}")
    if request.method not in METHODS:
        return LiveResponse.failure(
            LiveErrorCode.UNKNOWN_METHOD, f"unknown method {request.method!r}; known: {', '.join(METHODS)}"
        )
    if request.deadline <= now:
        return LiveResponse.failure(
            LiveErrorCode.DEADLINE_EXCEEDED, "the request's deadline had passed when it arrived"
        )
    if not consent.allows(now):
        return _consent_refusal(consent)
    if (problem := _params_error(request)) is not None:
        return LiveResponse.failure(LiveErrorCode.BAD_REQUEST, problem)
    remaining = (request.deadline - now).total_seconds()
    try:
        async with asyncio.timeout(remaining):  # in this task: no task of its own per request, as wait_for made
            result = await _call(request, handlers)
    except TimeoutError:
        return LiveResponse.failure(
            LiveErrorCode.DEADLINE_EXCEEDED, f"{request.method} did not finish before the deadline"
        )
    except Exception as exc:  # a failing handler must still answer, never leave the engineer waiting
        _LOGGER.warning("live %s failed: %s", request.method, exc, exc_info=True)
        return LiveResponse.failure(LiveErrorCode.INTERNAL, f"{request.method} failed: {exc}")
    if result is None:
        return LiveResponse.failure(LiveErrorCode.NOT_FOUND, "no such device")
    return LiveResponse(ok=True, result=result)


def encode_response(response: LiveResponse) -> bytes:
    """Serialise, replacing an oversized result by an error so answers stay bounded."""
    body = response.model_dump_json().encode()
    if len(body) <= MAX_RESPONSE_BYTES:
        return body
    too_large = LiveResponse.failure(
        LiveErrorCode.TOO_LARGE,
        f"answer of {len(body)} bytes exceeds the {MAX_RESPONSE_BYTES}-byte limit; narrow the request",
    )
    return too_large.model_dump_json().encode()


class LiveChannel:
    """Keeps the agent connected to the support broker and answers requests, until the context is left.

    The session (``shared.mqtt_session``) reconnects with backoff with jitter between ``reconnect_min_s`` and
    ``reconnect_max_s``, back to the minimum after a session that stayed up ``reconnect_healthy_s``. The client
    id is the broker username (the broker enforces it), and answers go only into the agent's own tree. Presence
    is the retained ``online`` published once the request subscription is granted (presence promises an answer),
    and the retained ``offline`` will, published by the broker on a lost session and on our clean close alike.
    ``consent`` is read at every request, so a change on the hub applies at once.
    """

    def __init__(
        self,
        agent_id: str,
        credentials: LiveGrant,
        handlers: LiveHandlers,
        consent: Callable[[], Consent],
        *,
        on_presence: Callable[[bool], None] | None = None,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        reconnect_healthy_s: float = 10.0,
        max_parallel: int = 4,
        queue_size: int = 64,
        ca_file: Path | None = None,
    ) -> None:
        try:
            address = parse_broker_url(credentials.broker_url)
        except ValueError as exc:
            raise LiveChannelError(f"support broker: {exc}") from None
        self.agent_id = agent_id
        self._handlers = handlers
        self._consent = consent
        self._max_parallel = max_parallel
        self.session = MqttSession(
            address,
            client_id=credentials.username,
            username=credentials.username,
            password=credentials.password,
            ca_file=ca_file,
            protocol=MqttProtocol.V5,
            subscriptions=lambda: [(f"{agent_tree(agent_id)}/req/#", 1)],
            will=Will(status_topic(agent_id), STATUS_OFFLINE),
            birth=Will(status_topic(agent_id), STATUS_ONLINE),
            queue_size=queue_size,
            reconnect=Reconnect(reconnect_min_s, reconnect_max_s, reconnect_healthy_s),
            on_up=on_presence,
            name="support broker session",
            logger=_LOGGER,
        )
        self.connected = self.session.connected
        self._workers: list[asyncio.Task[None]] = []

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return [*self.session.background_tasks, *self._workers]

    async def __aenter__(self) -> LiveChannel:
        await self.session.__aenter__()
        self._workers = [
            asyncio.create_task(self._worker(), name=f"live-worker-{index}") for index in range(self._max_parallel)
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            for worker in self._workers:
                await cancel_and_wait(worker)
        finally:
            await self.session.__aexit__(*exc)

    async def _worker(self) -> None:
        while True:
            request = await self.session.receive()
            if request.retain:  # the collector never retains a request; a retained one is stale or forged
                continue
            if not request.response_topic or not is_response_topic_of(request.response_topic, self.agent_id):
                _LOGGER.debug(
                    "live request ignored: its ResponseTopic %r is not in this agent's tree", request.response_topic
                )
                continue
            response = await answer(request.payload, self._consent(), self._handlers, utcnow())
            try:
                self.session.publish(
                    request.response_topic, encode_response(response), qos=1, correlation=request.correlation
                )
            except NotConnected:  # lost while answering: the engineer's request times out, they ask again
                _LOGGER.info("live answer to %s lost: the support broker session ended", request.topic)
