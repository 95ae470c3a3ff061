"""The broker, not politeness, keeps agents in their own topic tree."""

from __future__ import annotations

import time

import pytest

from collector.live_broker import password_entry, render_acl
from shared.live import request_topic, response_topic, status_topic

from .conftest import COLLECTOR_USER, SupportBroker
from .probe import Probe


def _client(broker: SupportBroker, user: str) -> Probe:
    client = Probe(broker.broker.host, broker.broker.port, user, broker.passwords[user])
    assert client.accepted, f"{user} could not connect"
    return client


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
    a = _client(support_broker, "agentA")
    b = _client(support_broker, "agentB")
    collector = _client(support_broker, COLLECTOR_USER)
    try:
        # Mosquitto grants a SUBACK but filters delivery by the read ACL: what counts is what arrives.
        for topic in ("homediag/agents/agentB/req/#", "homediag/agents/agentB/#", "homediag/#"):
            a.subscribe(topic)
        assert b.subscribe("homediag/agents/agentB/req/#")
        collector.subscribe("homediag/agents/+/resp/#")
        assert collector.subscribe("homediag/agents/+/status")

        assert collector.publish(request_topic("agentB", "inventory"))
        assert a.publish(response_topic("agentA", COLLECTOR_USER))
        assert a.publish(response_topic("agentA", "other-relay"))  # its tree, but not this relay's answers
        assert a.publish(status_topic("agentA"))
        assert not a.publish(response_topic("agentB", COLLECTOR_USER))
        assert not a.publish(status_topic("agentB"))
        assert not a.publish(request_topic("agentA", "inventory"))
        assert not a.publish(request_topic("agentB", "inventory"))
        assert b.publish(response_topic("agentB", COLLECTOR_USER))

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (b.messages and len(collector.messages) >= 3):
            time.sleep(0.05)
        assert [m.topic for m in b.messages] == [request_topic("agentB", "inventory")]
        foreign = [m.topic for m in a.messages if not m.topic.startswith("homediag/agents/agentA/")]
        assert foreign == [], "agent A read another agent's topics"
        assert sorted(m.topic for m in collector.messages) == sorted(
            [response_topic("agentA", COLLECTOR_USER), response_topic("agentB", COLLECTOR_USER), status_topic("agentA")]
        ), "only the agents' own, allowed publications reach the collector"
    finally:
        for client in (a, b, collector):
            client.close()


def test_unknown_user_is_refused(support_broker: SupportBroker) -> None:
    client = Probe(support_broker.broker.host, support_broker.broker.port, "intruder", "guess", client_id="intruder")
    try:
        assert not client.accepted
    finally:
        client.close()
