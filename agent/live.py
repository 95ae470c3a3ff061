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

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from shared.aio import cancel_and_wait, reconnect_forever
from shared.broker_url import parse_broker_url, secure
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
        tmp = self.path.with_suffix(".tmp")
        granted = consent.granted_until.isoformat() if consent.granted_until else None
        tmp.write_text(json.dumps({"mode": consent.mode, "granted_until": granted}))
        tmp.replace(self.path)

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
        result = await asyncio.wait_for(_call(request, handlers), timeout=remaining)
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


@dataclass(frozen=True)
class _Incoming:
    payload: bytes
    response_topic: str | None
    correlation: bytes | None


class LiveChannel:
    """Keeps the agent connected to the support broker and answers requests, until the context is left.

    The reconnect loop is ours and explicit: backoff with jitter between ``reconnect_min_s`` and ``reconnect_max_s``,
    back to the minimum after a session that stayed up ``reconnect_healthy_s``. The client id is the broker
    username (the broker enforces it), and answers go only into the agent's own tree.
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
            self._address = parse_broker_url(credentials.broker_url)
        except ValueError as exc:
            raise LiveChannelError(f"support broker: {exc}") from None
        self._ca_file = ca_file
        self.agent_id = agent_id
        self._credentials = credentials
        self._handlers = handlers
        self._consent = consent
        self._on_presence = on_presence
        self._reconnect = (reconnect_min_s, reconnect_max_s, reconnect_healthy_s)
        self._max_parallel = max_parallel
        self._queue_size = queue_size
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.dropped_requests = 0

    async def __aenter__(self) -> LiveChannel:
        self._task = asyncio.create_task(self._run(), name=f"live-channel-{self.agent_id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        min_s, max_s, healthy_s = self._reconnect
        await reconnect_forever(
            self._session,
            LiveChannelError,
            min_s=min_s,
            max_s=max_s,
            healthy_after_s=healthy_s,
            established=self.connected,
            logger=_LOGGER,
            what="support broker session",
            after_session=lambda: self._set_presence(False),
        )

    def _set_presence(self, up: bool) -> None:
        if up == self.connected.is_set():
            return
        if up:
            self.connected.set()
        else:
            self.connected.clear()
        if self._on_presence is not None:
            self._on_presence(up)

    def _new_client(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[_Incoming], lost: asyncio.Future[str]
    ) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self._credentials.username,
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(self._credentials.username, self._credentials.password)
        client.will_set(status_topic(self.agent_id), STATUS_OFFLINE, qos=1, retain=True)

        def settle(reason: str) -> None:
            if not lost.done():
                lost.set_result(reason)

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
            if reason_code.is_failure:
                loop.call_soon_threadsafe(settle, f"broker refused the connection: {reason_code}")
                return
            client.subscribe(f"{agent_tree(self.agent_id)}/req/#", qos=1)

        def on_subscribe(client: mqtt.Client, _u: Any, _mid: Any, reason_codes: Any, _p: Any) -> None:
            if any(code.is_failure for code in reason_codes):
                loop.call_soon_threadsafe(settle, f"broker refused the request subscription: {reason_codes}")
                return
            # Online only once requests can reach us: presence promises an answer.
            client.publish(status_topic(self.agent_id), STATUS_ONLINE, qos=1, retain=True)
            loop.call_soon_threadsafe(self._set_presence, True)

        def on_disconnect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
            loop.call_soon_threadsafe(settle, f"disconnected: {reason_code}")

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            if message.retain:  # the collector never retains a request; a retained one is stale or forged
                return
            props = message.properties
            incoming = _Incoming(
                payload=bytes(message.payload),
                response_topic=getattr(props, "ResponseTopic", None),
                correlation=getattr(props, "CorrelationData", None),
            )
            loop.call_soon_threadsafe(self._enqueue, queue, incoming)

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return client

    def _enqueue(self, queue: asyncio.Queue[_Incoming], incoming: _Incoming) -> None:
        try:
            queue.put_nowait(incoming)
        except asyncio.QueueFull:
            self.dropped_requests += 1
            _LOGGER.warning("live request dropped: %d requests already waiting", queue.qsize())

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Incoming] = asyncio.Queue(self._queue_size)
        lost: asyncio.Future[str] = loop.create_future()
        client = self._new_client(loop, queue, lost)
        try:
            secure(client, self._address, self._ca_file)
            await asyncio.to_thread(client.connect, self._address.host, self._address.port, 30, clean_start=True)
        except OSError as exc:  # ssl.SSLError (an untrusted certificate, say) is one too
            raise LiveChannelError(f"cannot reach support broker {self._address}: {exc}") from exc
        client.loop_start()
        try:
            async with asyncio.TaskGroup() as group:
                for index in range(self._max_parallel):
                    group.create_task(self._worker(client, queue), name=f"live-worker-{index}")
                reason = await lost
                raise LiveChannelError(reason)
        except* LiveChannelError as failed:
            raise failed.exceptions[0] from None
        finally:
            # MQTT v5 "disconnect with will message": the broker publishes our retained offline status.
            client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
            await asyncio.to_thread(client.loop_stop)

    async def _worker(self, client: mqtt.Client, queue: asyncio.Queue[_Incoming]) -> None:
        while True:
            incoming = await queue.get()
            if not incoming.response_topic or not is_response_topic_of(incoming.response_topic, self.agent_id):
                _LOGGER.debug(
                    "live request ignored: its ResponseTopic %r is not in this agent's tree", incoming.response_topic
                )
                continue
            response = await answer(incoming.payload, self._consent(), self._handlers, utcnow())
            properties = Properties(PacketTypes.PUBLISH)
            if incoming.correlation is not None:
                properties.CorrelationData = incoming.correlation
            client.publish(incoming.response_topic, encode_response(response), qos=1, properties=properties)
