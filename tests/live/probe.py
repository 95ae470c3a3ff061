"""A blocking paho v5 client for poking a real support broker: records CONNACK, SUBACK/PUBACK reason codes and
every message it receives (with its MQTT v5 properties)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

ACK_WAIT_S = 5.0


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    correlation: bytes | None
    response_topic: str | None


class Probe:
    """One MQTT v5 connection. ``accepted`` says whether the broker let it in; ``kicked`` whether it was later
    disconnected by the broker (not by us)."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        *,
        client_id: str = "",
        will: tuple[str, bytes] | None = None,
    ) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, password)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self._answered = threading.Event()
        self.accepted = False
        self.kicked = False
        self._closing = False
        self._acks: dict[int, list[Any]] = {}
        self._ack_event = threading.Condition()
        self.messages: list[Received] = []
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._record
        self.client.on_publish = lambda c, u, mid, rc, p: self._record(c, u, mid, [rc], p)
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        self._answered.wait(ACK_WAIT_S)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        self.accepted = not reason_code.is_failure
        self._answered.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        if not self._closing:
            self.kicked = True
        self._answered.set()
        with self._ack_event:
            self._ack_event.notify_all()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        self.messages.append(
            Received(
                message.topic,
                bytes(message.payload),
                bool(message.retain),
                getattr(props, "CorrelationData", None),
                getattr(props, "ResponseTopic", None),
            )
        )

    def _record(self, _c: Any, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        with self._ack_event:
            self._acks[mid] = codes
            self._ack_event.notify_all()

    def _wait_ack(self, mid: int) -> list[Any] | None:
        """The reason codes of one SUBACK/PUBACK; None when the broker dropped the connection instead."""
        with self._ack_event:
            self._ack_event.wait_for(lambda: mid in self._acks or self.kicked, ACK_WAIT_S)
            return self._acks.get(mid)

    def subscribe(self, topic: str) -> bool:
        """Whether the broker granted the subscription (Mosquitto grants some it then never delivers on)."""
        _rc, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None  # paho numbers every subscription it sends
        codes = self._wait_ack(mid)
        return codes is not None and not codes[0].is_failure

    def publish(
        self,
        topic: str,
        payload: bytes = b"x",
        *,
        retain: bool = False,
        correlation: bytes | None = None,
        response_topic: str | None = None,
    ) -> bool:
        """Whether the broker accepted a QoS 1 publish (its PUBACK reason code)."""
        properties = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            properties.CorrelationData = correlation
        if response_topic is not None:
            properties.ResponseTopic = response_topic
        info = self.client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        codes = self._wait_ack(info.mid)
        return codes is not None and not codes[0].is_failure

    def wait_for(self, predicate: Any, timeout: float = ACK_WAIT_S) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    def close(self, *, with_will: bool = False) -> None:
        """Disconnect; ``with_will`` asks the broker to publish the will all the same (MQTT v5)."""
        self._closing = True
        self.client.disconnect(
            reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message") if with_will else None
        )
        self.client.loop_stop()
        # paho keeps the socket pair that woke its thread until the client is collected, and a probe goes with
        # the garbage collector (its callbacks make a cycle), which may finalize those sockets first: unclosed.
        self.client._reset_sockets(sockpair_only=True)
