"""One MQTT session adapter for every client here: home-broker discovery, the agent's live channel, the
collector's relay.

paho-mqtt runs its network loop in its own thread; ``MqttSession`` is the one bridge from it to asyncio:

- **Reconnect** is ours and explicit (``shared.aio.reconnect_forever``): jittered exponential backoff between
  ``Reconnect.min_s`` and ``max_s``, back to the minimum after a session that stayed up ``healthy_s``, so a
  broker restart after a good session is recovered at once however often it happened before. paho's own
  reconnect is not used: each session is a fresh client, clean start, subscribed again (retained messages then
  re-synchronise whoever needs them).
- **TLS** for ``mqtts://`` addresses, the certificate verified (``shared.broker_url``).
- **No Nagle**: the socket gets ``TCP_NODELAY`` as soon as paho opens it. A request or answer is one small
  packet; with Nagle on, the next one waited for the peer's delayed ACK (tens of ms on Linux), which made the
  live round trip ~30 times slower than the network (docs/performance.md, "Live request").
- **Up** means usable: ``connected`` is set once the broker granted every subscription (and the ``birth``
  message, if any, is published), so whoever waits for it can be answered.
- **Bounded receive queue**: messages cross from paho's thread into an ``asyncio.Queue`` of ``queue_size``;
  when it is full a message is dropped and counted (``dropped``), never buffered without limit. They cross in
  batches: paho's thread appends to a list and wakes the loop once for whatever arrives until the loop takes the
  list (a flood of small messages costs one wake-up per batch, not per message). By default the loop takes the
  list at once; with ``hand_off_s`` it takes it that long after the batch's first message, so the messages of a
  burst (a home's devices reporting on the same beat) cross together: one wake-up of the loop, and of its
  consumers, instead of one per few messages. Each message's ``received_at`` is still when its batch crossed.
- **Clean shutdown**: leaving the context disconnects (MQTT v5 with a ``will``: "disconnect with will message",
  so the broker publishes the will, e.g. a retained ``offline``) and joins paho's thread.

Why not aiomqtt (docs/dependencies.md): it leaves the reconnect loop to the caller as we do, but its
subscribe/publish are coroutines, while discovery subscribes from synchronous message handling; it has no
"established once subscribed" signal nor a refused-login callback; and closing with the will needs paho
underneath anyway. What we need on top of paho is this one module.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .aio import cancel_and_wait, reconnect_forever, started
from .broker_url import BrokerAddress, secure
from .models import utcnow

_LOGGER = logging.getLogger(__name__)
KEEPALIVE_S = 30


class MqttProtocol(Enum):
    V311 = mqtt.MQTTv311  # what any home broker speaks
    V5 = mqtt.MQTTv5  # the support broker: response topics, correlation data, disconnect with will


class SessionLost(Exception):
    """A session ended (unreachable, refused, disconnected); the reconnect loop starts another."""


class NotConnected(Exception):
    """Publishing while no session is up."""


@dataclass(frozen=True)
class Will:
    """A message the broker publishes for us: the will when the session is lost, or a birth once it is up."""

    topic: str
    payload: str | bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class Reconnect:
    min_s: float = 0.5
    max_s: float = 30.0
    healthy_s: float = 10.0


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    received_at: datetime  # when it crossed into the event loop, not when a consumer got to it
    response_topic: str | None = None  # MQTT v5 request/response
    correlation: bytes | None = None


def without_nagle(_client: mqtt.Client, _userdata: Any, sock: object) -> None:
    """paho's ``on_socket_open``: small packets leave at once instead of waiting for the last one's ACK."""
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):  # TLS: SSLSocket
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MqttSession:
    """Async context manager: keeps one MQTT session up until the context is left.

    ``subscriptions`` is asked at every connect (the caller's current list, with QoS); ``subscribe`` and
    ``unsubscribe`` change the live session and are no-ops while it is down. ``on_login`` hears, on the event
    loop, why the broker refused the login (``None``: it accepted it); ``on_up`` hears the session become usable
    (True) or be lost (False).
    """

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        protocol: MqttProtocol = MqttProtocol.V5,
        subscriptions: Callable[[], Sequence[tuple[str, int]]] = tuple,
        will: Will | None = None,
        birth: Will | None = None,
        queue_size: int = 1000,
        hand_off_s: float = 0.0,
        reconnect: Reconnect = Reconnect(),
        clock: Callable[[], datetime] = utcnow,
        on_login: Callable[[str | None], None] | None = None,
        on_up: Callable[[bool], None] | None = None,
        name: str = "broker session",
        logger: logging.Logger = _LOGGER,
    ) -> None:
        self.address = address
        self._client_id = client_id
        self._login = (username, password)
        self._ca_file = ca_file
        self._protocol = protocol
        self._subscriptions = subscriptions
        self._will = will
        self._birth = birth
        self._queue: asyncio.Queue[Message] = asyncio.Queue(queue_size)
        self._hand_off_s = hand_off_s  # how long a batch's first message waits for the rest of its burst
        self._arrived: list[mqtt.MQTTMessage] = []  # appended in paho's thread, taken all at once by the loop
        self._arrived_lock = threading.Lock()
        self._reconnect = reconnect
        self._clock = clock
        self._on_login = on_login
        self._on_up = on_up
        self.name = name
        self._logger = logger
        self._client: mqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.received = 0
        self.dropped = 0
        self.attempts = 0  # sessions tried: a refused or unreachable broker shows here as a rising count

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return started(self._task)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name=f"mqtt-{self.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)

    # -- what the owner uses --------------------------------------------------------------------------------
    async def receive(self) -> Message:
        """The next message; several consumers may wait at once."""
        message = await self._queue.get()
        self.received += 1
        return message

    def publish(
        self,
        topic: str,
        payload: str | bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
    ) -> None:
        """Queue a message to the broker (paho sends it from its thread); ``NotConnected`` while down."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise NotConnected(f"not connected to {self.address}")
        properties = None
        if response_topic is not None or correlation is not None:
            properties = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                properties.ResponseTopic = response_topic
            if correlation is not None:
                properties.CorrelationData = correlation
        client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def subscribe(self, filters: Sequence[tuple[str, int]]) -> None:
        """Add subscriptions to the live session; the next session takes them from ``subscriptions``."""
        if self._client is not None and filters:
            self._client.subscribe(list(filters))

    def unsubscribe(self, topic_filter: str) -> None:
        if self._client is not None:
            self._client.unsubscribe(topic_filter)

    # -- the session loop -------------------------------------------------------------------------------------
    async def _run(self) -> None:
        await reconnect_forever(
            self._attempt,
            SessionLost,
            min_s=self._reconnect.min_s,
            max_s=self._reconnect.max_s,
            healthy_after_s=self._reconnect.healthy_s,
            established=self.connected,
            logger=self._logger,
            what=self.name,
            after_session=lambda: self._set_up(False),
        )

    async def _attempt(self) -> None:
        """One session; an error nobody foresaw is logged with its traceback and retried like a lost session,
        so a bug in one callback does not end the connection for the rest of the process's life."""
        try:
            await self._session()
        except SessionLost:
            raise
        except Exception as exc:
            self._logger.exception("%s failed unexpectedly", self.name)
            raise SessionLost(f"unexpected error: {exc!r}") from exc

    def _set_up(self, up: bool) -> None:
        if up == self.connected.is_set():
            return
        if up:
            self.connected.set()
        else:
            self.connected.clear()
        if self._on_up is not None:
            self._on_up(up)

    def _take_arrived(self) -> None:
        """On the loop: every message paho's thread received since the last call, into the receive queue."""
        with self._arrived_lock:
            arrived, self._arrived = self._arrived, []
        received_at = self._clock()  # one batch crosses into the loop at one moment
        for message in arrived:
            properties = message.properties
            self._enqueue(
                Message(
                    topic=message.topic,
                    payload=bytes(message.payload),
                    retain=bool(message.retain),
                    received_at=received_at,
                    response_topic=getattr(properties, "ResponseTopic", None),
                    correlation=getattr(properties, "CorrelationData", None),
                )
            )

    def _enqueue(self, message: Message) -> None:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1
            # A flood is logged a few dozen times, not once per message: 1, 2, 4, 8…
            if self.dropped & (self.dropped - 1) == 0:
                self._logger.warning(
                    "%s: %d messages dropped so far, %d already waiting", self.name, self.dropped, self._queue.qsize()
                )

    def _new_client(self, loop: asyncio.AbstractEventLoop, lost: asyncio.Future[str]) -> mqtt.Client:
        v5 = self._protocol is MqttProtocol.V5
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=self._protocol.value,
            clean_session=None if v5 else True,  # v5 says it at connect: clean_start
        )
        username, password = self._login
        if username:
            client.username_pw_set(username, password)
        if self._will is not None:
            will = self._will
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        first_subscription: list[int] = []  # the mid of the subscriptions made at connect

        def settle(reason: str) -> None:
            if not lost.done():
                lost.set_result(reason)

        def up() -> None:
            if self._birth is not None:
                birth = self._birth
                client.publish(birth.topic, birth.payload, qos=birth.qos, retain=birth.retain)
            loop.call_soon_threadsafe(self._set_up, True)

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
            if reason_code.is_failure:
                if self._on_login is not None:
                    loop.call_soon_threadsafe(self._on_login, str(reason_code))
                loop.call_soon_threadsafe(settle, f"broker refused the connection: {reason_code}")
                return
            if self._on_login is not None:
                loop.call_soon_threadsafe(self._on_login, None)
            try:
                filters = list(self._subscriptions())
            except Exception as exc:  # raised in paho's thread it would end that thread, silently
                self._logger.exception("%s: the subscriptions could not be listed", self.name)
                loop.call_soon_threadsafe(settle, f"subscriptions failed: {exc!r}")
                return
            if not filters:
                up()
                return
            _rc, mid = client.subscribe(filters)
            if mid is not None:
                first_subscription.append(mid)

        def on_subscribe(_c: Any, _u: Any, mid: int, reason_codes: Any, _p: Any) -> None:
            refused = [code for code in reason_codes if code.is_failure]
            if mid not in first_subscription:
                if refused:
                    self._logger.warning("%s: broker refused a subscription: %s", self.name, refused)
                return
            if refused:  # up promises that what we subscribe to reaches us
                loop.call_soon_threadsafe(settle, f"broker refused the subscriptions: {reason_codes}")
                return
            up()

        def on_disconnect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
            loop.call_soon_threadsafe(settle, f"disconnected: {reason_code}")

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            with self._arrived_lock:
                self._arrived.append(message)
                first = len(self._arrived) == 1
            if not first:
                return  # the loop has yet to take the batch this one joined
            if self._hand_off_s:
                loop.call_soon_threadsafe(loop.call_later, self._hand_off_s, self._take_arrived)
            else:  # the loop has taken everything before: wake it; later ones ride along with this one
                loop.call_soon_threadsafe(self._take_arrived)

        client.on_socket_open = without_nagle
        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return client

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()
        self.attempts += 1
        client = self._new_client(loop, lost)
        try:
            secure(client, self.address, self._ca_file)
            # clean_start is MQTT v5's (paho refuses it for 3.1.1, where clean_session above says the same).
            clean_start = True if self._protocol is MqttProtocol.V5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY
            await asyncio.to_thread(
                client.connect, self.address.host, self.address.port, KEEPALIVE_S, clean_start=clean_start
            )
        except OSError as exc:  # ssl.SSLError (an untrusted certificate, say) is one too
            raise SessionLost(f"cannot reach {self.address}: {exc}") from exc
        client.loop_start()
        self._client = client
        try:
            raise SessionLost(await lost)
        finally:
            self._client = None
            self._set_up(False)
            if self._protocol is MqttProtocol.V5 and self._will is not None:
                # MQTT v5 "disconnect with will message": the broker publishes the will (our retained offline).
                client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
            else:
                client.disconnect()
            await asyncio.to_thread(client.loop_stop)
