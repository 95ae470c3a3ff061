"""One MQTT session adapter for every client here: home-broker discovery, the agent's live channel, the
collector's relay.

``MqttSession`` is the one bridge from paho-mqtt to asyncio:

- **The event loop drives the socket**: paho's packet handling runs in the loop's thread, called when the socket
  is readable (``loop_read``), when paho queued something (``loop_write``: at once, and again when the socket
  is writable if it did not take it all) and once a second for keepalive (``loop_misc``).
  No thread of paho's: a message or an answer does not wait for another thread to get the interpreter (a live
  round trip used to cross paho's threads four times, docs/performance.md "Live request").
- **Reads in large pieces**: paho asks for each packet in three or four ``recv`` calls; the session's client
  takes up to ``RECV_SIZE`` bytes in one and hands paho the pieces from memory (a system call per burst, not
  per packet's field). A turn of the loop handles up to ``READ_BURST`` packets; when more are waiting, held or
  in the socket, the next turn reads on.

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
- **Bounded receive queue**: messages go into an ``asyncio.Queue`` of ``queue_size``; when it is full a message
  is dropped and counted (``dropped``), never buffered without limit.
- **Read window** (``hand_off_s``): by default the loop reads as soon as the socket is readable; with
  ``hand_off_s`` it reads that long after, so the messages of a burst (a home's devices reporting on the same
  beat) are read together: one wake-up of the loop, and of the queue's consumers, instead of one per message or
  few. The window is opened by the first arrival only: a flood longer than a turn is read on turn after turn,
  not a window per turn. Each message's ``received_at`` is when its turn of reading began: the messages read
  together share one time (the inventory formats it once per burst, not once per message).
- **Clean shutdown**: leaving the context disconnects (MQTT v5 with a ``will``: "disconnect with will message",
  so the broker publishes the will, e.g. a retained ``offline``), sent before the socket is closed.

Why not aiomqtt (docs/dependencies.md): it leaves the reconnect loop to the caller as we do, but its
subscribe/publish are coroutines, while discovery subscribes from synchronous message handling; it has no
"established once subscribed" signal nor a refused-login callback; and closing with the will needs paho
underneath anyway. What we need on top of paho is this one module.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
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
MISC_INTERVAL_S = 1.0  # how often paho checks the keepalive (sends PINGREQ, notices a silent broker)
CLOSE_TIMEOUT_S = 5.0  # for the DISCONNECT to leave before the socket is closed anyway
READ_BURST = 64  # packets read per turn of the loop at most, so a flood does not starve the loop's other work
RECV_SIZE = 65536  # bytes taken from the socket at once: a burst of device reports in one call


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


class _BufferedClient(mqtt.Client):
    """paho's client reading the socket in large pieces. paho asks for each packet in three or four ``recv``
    calls (its type, each byte of its length, the rest), a system call each; this takes what the socket holds
    in one and hands paho its pieces from memory. Whatever is held here is unread for the selector, so the
    reader asks ``buffered`` before it waits for the socket again. ``_sock_recv`` is paho's own (private, kept
    by the pin ``<3``); were it renamed, paho would read the socket itself, correctly, only without the saving."""

    _held = b""
    _at = 0

    def buffered(self) -> bool:
        return self._at < len(self._held)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._at >= len(self._held):
            self._held, self._at = super()._sock_recv(RECV_SIZE), 0  # BlockingIOError when there is nothing
            if not self._held:
                return b""  # the broker closed the connection
        start = self._at
        self._at = min(start + bufsize, len(self._held))
        return self._held[start : self._at]


def without_nagle(_client: mqtt.Client, _userdata: Any, sock: object) -> None:
    """paho's ``on_socket_open``: small packets leave at once instead of waiting for the last one's ACK."""
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):  # TLS: SSLSocket
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MqttSession:
    """Async context manager: keeps one MQTT session up until the context is left.

    ``subscriptions`` is asked at every connect (the caller's current list, with QoS); ``subscribe`` and
    ``unsubscribe`` change the live session and are no-ops while it is down. ``on_login`` hears, on the event
    loop, why the broker refused the login (``None``: it accepted it); ``on_up`` hears the session become usable
    (True) or be lost (False). ``on_message``, when given, handles each message as it arrives instead of queuing
    it for ``receive``: for an owner whose handling is quick and never waits (one hop less per message).
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
        on_message: Callable[[Message], None] | None = None,
        keepalive_s: int = KEEPALIVE_S,
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
        self._hand_off_s = hand_off_s  # how long a readable socket waits for the rest of a burst
        self._reconnect = reconnect
        self._clock = clock
        self._on_login = on_login
        self._on_up = on_up
        self._on_message = on_message
        self._keepalive_s = keepalive_s
        self.name = name
        self._logger = logger
        self._client: mqtt.Client | None = None
        self._driver: _LoopDriver | None = None
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
        """Send a message to the broker (written at once if the socket takes it); ``NotConnected`` while down."""
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
        self._flush()

    def subscribe(self, filters: Sequence[tuple[str, int]]) -> None:
        """Add subscriptions to the live session; the next session takes them from ``subscriptions``."""
        if self._client is not None and filters:
            self._client.subscribe(list(filters))
            self._flush()

    def unsubscribe(self, topic_filter: str) -> None:
        if self._client is not None:
            self._client.unsubscribe(topic_filter)
            self._flush()

    def _flush(self) -> None:
        if self._driver is not None:
            self._driver.write()

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

    def _new_client(self, loop: asyncio.AbstractEventLoop, lost: asyncio.Future[str]) -> _BufferedClient:
        v5 = self._protocol is MqttProtocol.V5
        client = _BufferedClient(
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
            loop.call_soon(self._set_up, True)

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
            if reason_code.is_failure:
                if self._on_login is not None:
                    loop.call_soon(self._on_login, str(reason_code))
                loop.call_soon(settle, f"broker refused the connection: {reason_code}")
                return
            if self._on_login is not None:
                loop.call_soon(self._on_login, None)
            try:
                filters = list(self._subscriptions())
            except Exception as exc:  # no subscriptions, no session: end it with the reason
                self._logger.exception("%s: the subscriptions could not be listed", self.name)
                loop.call_soon(settle, f"subscriptions failed: {exc!r}")
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
                loop.call_soon(settle, f"broker refused the subscriptions: {reason_codes}")
                return
            up()

        def on_disconnect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
            loop.call_soon(settle, f"disconnected: {reason_code}")

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            driver = self._driver  # messages arrive only through its reads
            assert driver is not None
            properties = message.properties
            arrived = Message(
                topic=message.topic,
                payload=bytes(message.payload),
                retain=bool(message.retain),
                received_at=driver.read_at,
                response_topic=getattr(properties, "ResponseTopic", None),
                correlation=getattr(properties, "CorrelationData", None),
            )
            if self._on_message is None:
                self._enqueue(arrived)
                return
            self.received += 1
            try:
                self._on_message(arrived)
            except Exception:  # a bug for one message must not end the session nor blind it to the next
                self._logger.exception("%s: message on %s not handled", self.name, arrived.topic)

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
                client.connect, self.address.host, self.address.port, self._keepalive_s, clean_start=clean_start
            )
        except OSError as exc:  # ssl.SSLError (an untrusted certificate, say) is one too
            raise SessionLost(f"cannot reach {self.address}: {exc}") from exc
        driver = _LoopDriver(client, loop, lost, self.name, self._logger, self._clock, self._hand_off_s)
        self._client, self._driver = client, driver
        try:
            while not lost.done():
                await asyncio.wait((lost,), timeout=MISC_INTERVAL_S)
                client.loop_misc()
            raise SessionLost(lost.result())
        finally:
            self._client = self._driver = None
            self._set_up(False)
            if self._protocol is MqttProtocol.V5 and self._will is not None:
                # MQTT v5 "disconnect with will message": the broker publishes the will (our retained offline).
                client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
            else:
                client.disconnect()
            await driver.closed_after_writing()


class _LoopDriver:
    """The event loop driving one connected paho client: it reads when the socket is readable, and writes what
    paho queued at once, waiting for the socket to be writable only when it did not take it all.

    paho writes a packet itself when it is queued outside its callbacks (no thread of paho's runs, so it does
    not leave the writing to one): a publish, a PINGREQ, a PUBACK. What is queued inside a callback (the
    birth, the subscriptions made on CONNACK) and what the socket did not take are written by ``write``, after
    each read and after each call of the owner's.
    """

    def __init__(
        self,
        client: _BufferedClient,
        loop: asyncio.AbstractEventLoop,
        lost: asyncio.Future[str],
        name: str,
        logger: logging.Logger,
        clock: Callable[[], datetime],
        read_after_s: float = 0.0,
    ) -> None:
        sock = client.socket()
        assert sock is not None
        self._client, self._loop, self._sock, self._lost = client, loop, sock, lost
        self._name, self._logger, self._clock = name, logger, clock
        self.read_at = clock()  # when the current turn of reading began: every message it reads arrived then
        self._read_after_s = read_after_s
        self._read_later: asyncio.TimerHandle | None = None
        self._waiting_to_write = False
        self._closed: asyncio.Future[None] = loop.create_future()
        client.on_socket_close = self._on_socket_close
        loop.add_reader(sock, self._readable)
        self.write()  # what connect() could not write yet

    def write(self) -> None:
        client = self._client
        if client.want_write():
            client.loop_write()
        backlog = client.want_write() and client.socket() is not None
        if backlog != self._waiting_to_write:
            if backlog:
                self._loop.add_writer(self._sock, self.write)
            else:
                self._loop.remove_writer(self._sock)
            self._waiting_to_write = backlog

    def _readable(self) -> None:
        if self._read_after_s:  # let the rest of the burst arrive; stop watching the socket meanwhile
            self._loop.remove_reader(self._sock)
            self._read_later = self._loop.call_later(self._read_after_s, self._read_window)
            return
        self._read()

    def _read_window(self) -> None:
        self._read_later = None
        if self._closed.done():
            return
        self._read()
        if not self._closed.done():
            self._loop.add_reader(self._sock, self._readable)

    def _read(self) -> None:
        if self._closed.done():  # a turn asked for by the last one, after the session ended
            return
        self.read_at = self._clock()
        try:
            client = self._client
            for _ in range(READ_BURST):  # paho reads one packet per call; a flood costs no loop turn each
                client.loop_read()
                if not _more_to_read(client):
                    break
            else:  # more to read: the next turn reads on, not another window (nor the selector: what is held)
                self._loop.call_soon(self._read)
            self.write()
        except Exception as exc:  # a bug in one message's handling: this session ends, the next one starts
            self._logger.exception("%s: reading from the broker failed", self._name)
            if not self._lost.done():
                self._lost.set_result(f"unexpected error: {exc!r}")

    def _on_socket_close(self, _client: Any, _userdata: Any, sock: Any) -> None:
        """paho calls this before it closes the socket (and again when it collects a client closed by us)."""
        if self._closed.done():
            return
        if self._read_later is not None:
            self._read_later.cancel()
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self._waiting_to_write = False
        self._closed.set_result(None)

    async def closed_after_writing(self) -> None:
        """After ``disconnect``: paho closes the socket once the DISCONNECT is written. A broker that stopped
        reading gets ``CLOSE_TIMEOUT_S``, then the socket is closed anyway."""
        self.write()
        await asyncio.wait((self._closed,), timeout=CLOSE_TIMEOUT_S)
        if not self._closed.done():
            self._on_socket_close(self._client, None, self._sock)
            self._sock.close()


def _more_to_read(client: _BufferedClient) -> bool:
    """Whether a packet may be waiting: bytes the client holds, bytes in the socket, or (TLS) a record the SSL
    object has already decrypted; the selector sees only the socket's."""
    if client.buffered():
        return True
    sock: Any = client.socket()  # paho's type for it has no recv flags
    if sock is None:
        return False
    if isinstance(sock, ssl.SSLSocket):
        return sock.pending() > 0
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False
    except OSError:  # reset: paho's next read finds it and ends the session as a lost one
        return True
