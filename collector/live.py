"""The collector's side of the live channel: relays engineers' requests to agents and tracks presence.

One MQTT v5 connection to the support broker under this relay's own account (one per collector replica; the
broker makes the account name the client id, so no one else can take the session over). Requests carry
ResponseTopic (``homediag/agents/<id>/resp/<relay account>``) and a fresh CorrelationData; an answer is taken
only when both its correlation data and its topic match: it must come from the tree of the agent that was asked.
Presence comes from the agents' retained ``status`` topics.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from shared.aio import cancel_and_wait, reconnect_forever
from shared.broker_url import parse_broker_url, secure
from shared.live import (
    MAX_RESPONSE_BYTES,
    STATUS_ONLINE,
    TOPIC_ROOT,
    LiveErrorCode,
    LiveRequest,
    LiveResponse,
    check_topic_word,
    is_response_topic_of,
    parse_agent_topic,
    request_topic,
    response_topic,
)
from shared.models import utcnow

from .errors import CollectorError

_LOGGER = logging.getLogger(__name__)


class LiveUnavailable(CollectorError):
    status = 503
    code = "live_unavailable"


class LiveTimeout(CollectorError):
    status = 504
    code = "agent_timeout"


@dataclass(frozen=True)
class _Pending:
    agent_id: str
    future: asyncio.Future[LiveResponse]


@dataclass(frozen=True)
class Presence:
    online: bool
    since: datetime


class LiveRelay:
    """An async context manager that owns the support-broker connection and its reconnect loop."""

    def __init__(
        self,
        broker_url: str,
        username: str,
        password: str,
        *,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 15.0,
        reconnect_healthy_s: float = 10.0,
        ca_file: Path | None = None,
    ) -> None:
        try:
            self._address = parse_broker_url(broker_url)
        except ValueError as exc:
            raise LiveUnavailable(f"support broker: {exc}") from None
        self._ca_file = ca_file
        self._username, self._password = username, password
        self.relay_name = check_topic_word(username, "relay account")  # names the relay's response subtree
        self._reconnect = (reconnect_min_s, reconnect_max_s, reconnect_healthy_s)
        self._pending: dict[bytes, _Pending] = {}
        self.rejected_answers = 0  # answers whose topic did not match the agent asked, or retained ones
        self._presence: dict[str, Presence] = {}
        self._client: mqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def __aenter__(self) -> LiveRelay:
        self._task = asyncio.create_task(self._run(), name="live-relay")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)
        for pending in self._pending.values():
            pending.future.cancel()
        self._pending.clear()

    def presence(self, agent_id: str) -> Presence | None:
        return self._presence.get(agent_id)

    def all_presence(self) -> dict[str, Presence]:
        return dict(self._presence)

    async def request(
        self, agent_id: str, method: str, params: dict[str, Any], *, timeout_s: float, requested_by: str | None = None
    ) -> LiveResponse:
        """Send one request and wait for its answer; LiveTimeout after ``timeout_s``."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise LiveUnavailable("the collector is not connected to the support broker")
        request = LiveRequest(
            method=method, params=params, deadline=utcnow() + timedelta(seconds=timeout_s), requested_by=requested_by
        )
        correlation = uuid.uuid4().bytes
        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = response_topic(agent_id, self.relay_name)
        properties.CorrelationData = correlation
        future: asyncio.Future[LiveResponse] = asyncio.get_running_loop().create_future()
        self._pending[correlation] = _Pending(agent_id, future)
        try:
            client.publish(request_topic(agent_id, method), request.model_dump_json(), qos=1, properties=properties)
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise LiveTimeout(f"agent {agent_id} did not answer {method} within {timeout_s:g}s") from None
        finally:
            self._pending.pop(correlation, None)

    async def _run(self) -> None:
        min_s, max_s, healthy_s = self._reconnect
        await reconnect_forever(
            self._session,
            LiveUnavailable,
            min_s=min_s,
            max_s=max_s,
            healthy_after_s=healthy_s,
            established=self.connected,
            logger=_LOGGER,
            what="support broker session",
        )

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self._username, protocol=mqtt.MQTTv5)
        client.username_pw_set(self._username, self._password)

        def settle(reason: str) -> None:
            self.connected.clear()
            if not lost.done():
                lost.set_result(reason)

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
            if reason_code.is_failure:
                loop.call_soon_threadsafe(settle, f"broker refused the collector: {reason_code}")
                return
            client.subscribe([(f"{TOPIC_ROOT}/+/status", 1), (f"{TOPIC_ROOT}/+/resp/{self.relay_name}", 1)])

        def on_subscribe(_c: Any, _u: Any, _mid: Any, reason_codes: Any, _p: Any) -> None:
            if any(code.is_failure for code in reason_codes):
                loop.call_soon_threadsafe(settle, f"broker refused the relay's subscriptions: {reason_codes}")
                return
            loop.call_soon_threadsafe(self.connected.set)  # answers can reach us now

        def on_disconnect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
            loop.call_soon_threadsafe(settle, f"disconnected: {reason_code}")

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            correlation = getattr(message.properties, "CorrelationData", None)
            loop.call_soon_threadsafe(
                self._on_message, message.topic, bytes(message.payload), correlation, message.retain
            )

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        try:
            secure(client, self._address, self._ca_file)
            await asyncio.to_thread(client.connect, self._address.host, self._address.port, 30, clean_start=True)
        except OSError as exc:  # ssl.SSLError (an untrusted certificate, say) is one too
            raise LiveUnavailable(f"cannot reach support broker {self._address}: {exc}") from exc
        client.loop_start()
        self._client = client
        try:
            raise LiveUnavailable(await lost)
        finally:
            self._client = None
            self.connected.clear()
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    def _on_message(self, topic: str, payload: bytes, correlation: bytes | None, retained: bool) -> None:
        parsed = parse_agent_topic(topic)
        if parsed is None:
            return
        agent_id, kind, _rest = parsed
        if kind == "status":
            online = payload.decode(errors="replace") == STATUS_ONLINE
            previous = self._presence.get(agent_id)
            if previous is None or previous.online != online:
                self._presence[agent_id] = Presence(online=online, since=utcnow())
            return
        if kind != "resp" or correlation is None:
            return
        pending = self._pending.get(correlation)
        if pending is None or pending.future.done():
            return
        if retained or not is_response_topic_of(topic, pending.agent_id, self.relay_name):
            # Answers are never retained, and only the agent asked may answer: anything else is a forgery.
            self.rejected_answers += 1
            _LOGGER.warning(
                "answer for %s's request rejected: it came on %s%s",
                pending.agent_id,
                topic,
                " (retained)" if retained else "",
            )
            return
        pending.future.set_result(_decode_response(payload))


def _decode_response(payload: bytes) -> LiveResponse:
    if len(payload) > MAX_RESPONSE_BYTES:
        return LiveResponse.failure(LiveErrorCode.TOO_LARGE, "the agent's answer exceeded the size limit")
    try:
        return LiveResponse.model_validate_json(payload)
    except ValidationError as exc:
        return LiveResponse.failure(
            LiveErrorCode.BAD_REQUEST, f"the agent sent a malformed answer: {exc.errors()[0]['msg']}"
        )
