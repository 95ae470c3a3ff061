"""The broker, not politeness, keeps agents in their own topic tree."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from collector.live_broker import password_entry, render_acl
from shared.live import request_topic, response_topic, status_topic

from .conftest import COLLECTOR_USER, SupportBroker


class _Client:
    """A blocking paho v5 client that records SUBACK/PUBACK reason codes and received messages."""

    def __init__(self, broker: SupportBroker, user: str) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"acl-test-{user}", protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, broker.passwords[user])
        self.connected = threading.Event()
        self.acks: dict[int, list[Any]] = {}
        self.ack_event = threading.Condition()
        self.messages: list[tuple[str, bytes]] = []
        self.client.on_connect = lambda c, u, f, rc, p: self.connected.set() if not rc.is_failure else None
        self.client.on_subscribe = self._record
        self.client.on_publish = lambda c, u, mid, rc, p: self._record(c, u, mid, [rc], p)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.connect(broker.broker.host, broker.broker.port)
        self.client.loop_start()
        assert self.connected.wait(5), f"{user} could not connect"

    def _record(self, _c: Any, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        with self.ack_event:
            self.acks[mid] = codes
            self.ack_event.notify_all()

    def _wait_ack(self, mid: int) -> list[Any]:
        with self.ack_event:
            assert self.ack_event.wait_for(lambda: mid in self.acks, 5)
            return self.acks[mid]

    def subscribe_allowed(self, topic: str) -> bool:
        _rc, mid = self.client.subscribe(topic, qos=1)
        return not self._wait_ack(mid)[0].is_failure

    def publish_allowed(self, topic: str) -> bool:
        info = self.client.publish(topic, b"x", qos=1)
        return not self._wait_ack(info.mid)[0].is_failure

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_password_entry_matches_mosquittos_format() -> None:
    line = password_entry("agent-1", "secret", salt=b"0123456789ab")
    user, rest = line.split(":", 1)
    assert user == "agent-1" and rest.startswith("$7$101$")


def test_acl_binds_agents_to_their_own_tree() -> None:
    acl = render_acl([COLLECTOR_USER, "collector-2"])
    assert "pattern read homediag/agents/%u/req/#" in acl
    assert "pattern write homediag/agents/%u/req" not in acl
    assert "topic read homediag/agents/+/resp/collector-2" in acl and "resp/#" not in acl.split("pattern")[0]
    with pytest.raises(ValueError):
        render_acl(["agt_0123456789abcdef"])  # a relay account must never look like an agent


def test_agent_cannot_reach_another_agents_tree_or_send_requests(support_broker: SupportBroker) -> None:
    support_broker.add_user("agentA")
    support_broker.add_user("agentB")
    a = _Client(support_broker, "agentA")
    b = _Client(support_broker, "agentB")
    collector = _Client(support_broker, COLLECTOR_USER)
    try:
        # Mosquitto grants a SUBACK but filters delivery by the read ACL: what counts is what arrives.
        for topic in ("homediag/agents/agentB/req/#", "homediag/agents/agentB/#", "homediag/#"):
            a.subscribe_allowed(topic)
        assert b.subscribe_allowed("homediag/agents/agentB/req/#")
        collector.subscribe_allowed("homediag/agents/+/resp/#")
        assert collector.subscribe_allowed("homediag/agents/+/status")

        assert collector.publish_allowed(request_topic("agentB", "inventory"))
        assert a.publish_allowed(response_topic("agentA", COLLECTOR_USER))
        assert a.publish_allowed(response_topic("agentA", "other-relay"))  # its tree, but not this relay's answers
        assert a.publish_allowed(status_topic("agentA"))
        assert not a.publish_allowed(response_topic("agentB", COLLECTOR_USER))
        assert not a.publish_allowed(status_topic("agentB"))
        assert not a.publish_allowed(request_topic("agentA", "inventory"))
        assert not a.publish_allowed(request_topic("agentB", "inventory"))
        assert b.publish_allowed(response_topic("agentB", COLLECTOR_USER))

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (b.messages and len(collector.messages) >= 3):
            time.sleep(0.05)
        assert [t for t, _ in b.messages] == [request_topic("agentB", "inventory")]
        foreign = [t for t, _ in a.messages if not t.startswith("homediag/agents/agentA/")]
        assert foreign == [], "agent A read another agent's topics"
        assert sorted(t for t, _ in collector.messages) == sorted(
            [response_topic("agentA", COLLECTOR_USER), response_topic("agentB", COLLECTOR_USER), status_topic("agentA")]
        ), "only the agents' own, allowed publications reach the collector"
    finally:
        for client in (a, b, collector):
            client.close()


def test_unknown_user_is_refused(support_broker: SupportBroker) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv5)
    client.username_pw_set("intruder", "guess")
    refused = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: refused.set() if rc.is_failure else None
    client.connect(support_broker.broker.host, support_broker.broker.port)
    client.loop_start()
    try:
        assert refused.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()
