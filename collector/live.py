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
from typing import Any, Self

from pydantic import ValidationError

from shared.broker_url import parse_broker_url
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
from shared.mqtt_session import Message, MqttProtocol, MqttSession, NotConnected, Reconnect

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
    """An async context manager that owns the support-broker session (``shared.mqtt_session``), which hands it
    each message as it arrives: agents' presence and their answers. Up once both subscriptions are granted."""

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
            address = parse_broker_url(broker_url)
        except ValueError as exc:
            raise LiveUnavailable(f"support broker: {exc}") from None
        self.relay_name = check_topic_word(username, "relay account")  # names the relay's response subtree
        self._pending: dict[bytes, _Pending] = {}
        self.rejected_answers = 0  # answers whose topic did not match the agent asked, or retained ones
        self._presence: dict[str, Presence] = {}
        self.session = MqttSession(
            address,
            client_id=username,
            username=username,
            password=password,
            ca_file=ca_file,
            protocol=MqttProtocol.V5,
            subscriptions=lambda: [(f"{TOPIC_ROOT}/+/status", 1), (f"{TOPIC_ROOT}/+/resp/{self.relay_name}", 1)],
            on_message=self._on_message,
            reconnect=Reconnect(reconnect_min_s, reconnect_max_s, reconnect_healthy_s),
            name="support broker session",
            logger=_LOGGER,
        )
        self.connected = self.session.connected

    async def __aenter__(self) -> Self:
        await self.session.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.session.__aexit__(*exc)
        finally:
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
        request = LiveRequest(
            method=method, params=params, deadline=utcnow() + timedelta(seconds=timeout_s), requested_by=requested_by
        )
        correlation = uuid.uuid4().bytes
        future: asyncio.Future[LiveResponse] = asyncio.get_running_loop().create_future()
        self._pending[correlation] = _Pending(agent_id, future)
        try:
            self.session.publish(
                request_topic(agent_id, method),
                request.model_dump_json(),
                qos=1,
                response_topic=response_topic(agent_id, self.relay_name),
                correlation=correlation,
            )
            async with asyncio.timeout(timeout_s):
                return await future
        except NotConnected:
            raise LiveUnavailable("the collector is not connected to the support broker") from None
        except TimeoutError:
            raise LiveTimeout(f"agent {agent_id} did not answer {method} within {timeout_s:g}s") from None
        finally:
            self._pending.pop(correlation, None)

    def _on_message(self, message: Message) -> None:
        topic, payload, correlation, retained = message.topic, message.payload, message.correlation, message.retain
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
