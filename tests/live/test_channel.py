"""Engineer → collector relay → support broker (ACL'd) → agent → answer, over real Mosquitto with MQTT v5."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from agent.live import Consent, LiveChannel
from collector.live import LiveRelay, LiveTimeout
from lab.certs import make_server_certificate
from shared.live import LiveGrant, LiveRequest, request_topic, response_topic
from shared.models import utcnow
from tests.waiting import eventually

from .conftest import COLLECTOR_USER, SupportBroker, running_support_broker
from .handlers import FakeHomeHandlers
from .probe import Probe


@pytest.fixture
async def relay(support_broker: SupportBroker) -> AsyncIterator[LiveRelay]:
    async with LiveRelay(support_broker.url, COLLECTOR_USER, support_broker.passwords[COLLECTOR_USER]) as relay:
        await asyncio.wait_for(relay.connected.wait(), 5)
        yield relay


def _channel(
    support_broker: SupportBroker,
    agent_id: str,
    handlers: FakeHomeHandlers,
    consent: list[Consent],
    ca_file: Path | None = None,
) -> LiveChannel:
    password = support_broker.add_user(agent_id)
    return LiveChannel(
        agent_id,
        LiveGrant(broker_url=support_broker.url, username=agent_id, password=password),
        handlers,
        lambda: consent[0],
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
        ca_file=ca_file,
    )


async def test_device_state_round_trip_and_presence(support_broker: SupportBroker, relay: LiveRelay) -> None:
    handlers = FakeHomeHandlers()
    async with _channel(support_broker, "hub1", handlers, [Consent("allowed")]) as channel:
        await asyncio.wait_for(channel.connected.wait(), 5)
        await eventually(lambda: (p := relay.presence("hub1")) is not None and p.online)
        response = await relay.request("hub1", "device.state", {"device_id": "plug-1"}, timeout_s=5, requested_by="eng")
        assert response.ok and response.result["rssi_dbm"] == -61
        capture = await relay.request("hub1", "bundle.capture", {}, timeout_s=5, requested_by="eng")
        assert capture.ok and handlers.captures == ["eng"]
    await eventually(lambda: not relay.presence("hub1").online)  # type: ignore[union-attr]


async def test_over_tls_both_ends_verify_the_brokers_certificate(tmp_path: Path) -> None:
    certificate = make_server_certificate(tmp_path / "tls")
    with running_support_broker(tmp_path, tls=certificate) as support:
        assert support.url.startswith("mqtts://")
        async with LiveRelay(
            support.url, COLLECTOR_USER, support.passwords[COLLECTOR_USER], ca_file=certificate.ca_file
        ) as relay:
            await asyncio.wait_for(relay.connected.wait(), 5)
            async with _channel(
                support, "hub-tls", FakeHomeHandlers(), [Consent("allowed")], ca_file=certificate.ca_file
            ) as channel:
                await asyncio.wait_for(channel.connected.wait(), 5)
                response = await relay.request("hub-tls", "device.state", {"device_id": "plug-1"}, timeout_s=5)
                assert response.ok
            # Without the CA the broker's certificate is not trusted: no session, no credentials sent.
            async with _channel(support, "hub-untrusting", FakeHomeHandlers(), [Consent("allowed")]) as untrusting:
                await eventually(lambda: untrusting.session.attempts >= 3, what="three attempts")
                assert not untrusting.connected.is_set()


async def test_consent_off_is_a_visible_refusal(support_broker: SupportBroker, relay: LiveRelay) -> None:
    consent = [Consent("off")]
    async with _channel(support_broker, "hub2", FakeHomeHandlers(), consent) as channel:
        await asyncio.wait_for(channel.connected.wait(), 5)
        refused = await relay.request("hub2", "inventory", {}, timeout_s=5)
        assert refused.error is not None and refused.error.code == "consent_refused"
        consent[0] = Consent("allowed")
        assert (await relay.request("hub2", "inventory", {}, timeout_s=5)).ok


async def test_offline_agent_times_out(relay: LiveRelay) -> None:
    with pytest.raises(LiveTimeout):
        await relay.request("nobody", "inventory", {}, timeout_s=0.3)


async def test_agent_reconnects_after_broker_crash(support_broker: SupportBroker, relay: LiveRelay) -> None:
    async with _channel(support_broker, "hub3", FakeHomeHandlers(), [Consent("allowed")]) as channel:
        await asyncio.wait_for(channel.connected.wait(), 5)
        support_broker.broker.kill()
        await eventually(lambda: not channel.connected.is_set())
        support_broker.broker.start()
        await asyncio.wait_for(channel.connected.wait(), 10)
        await asyncio.wait_for(relay.connected.wait(), 10)
        assert (await relay.request("hub3", "probe.run", {}, timeout_s=5)).ok


async def test_agent_answers_only_into_its_own_tree_and_ignores_retained_requests(
    support_broker: SupportBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Were the relay's account misused, a hub could still not be made to answer into another hub's tree: the
    ACL would refuse that publish, and the agent does not even try."""
    caplog.set_level(logging.DEBUG, logger="agent.live")
    asker = Probe(
        support_broker.broker.host, support_broker.broker.port, COLLECTOR_USER, support_broker.passwords[COLLECTOR_USER]
    )
    try:
        assert await asyncio.to_thread(asker.subscribe, "homediag/agents/+/resp/#")
        request = LiveRequest(method="inventory", deadline=utcnow() + timedelta(seconds=10)).model_dump_json().encode()
        own, foreign = response_topic("hub4", COLLECTOR_USER), response_topic("hub5", COLLECTOR_USER)
        # A retained request waits on the broker for the hub's next subscription: stale or forged, never answered.
        assert await asyncio.to_thread(
            asker.publish,
            request_topic("hub4", "inventory"),
            request,
            retain=True,
            correlation=b"retained",
            response_topic=own,
        )
        async with _channel(support_broker, "hub4", FakeHomeHandlers(), [Consent("allowed")]) as channel:
            await asyncio.wait_for(channel.connected.wait(), 5)
            for correlation, answer_to in ((b"foreign", foreign), (b"own", own)):
                assert await asyncio.to_thread(
                    asker.publish,
                    request_topic("hub4", "inventory"),
                    request,
                    correlation=correlation,
                    response_topic=answer_to,
                )
            # The own request came last: the agent takes requests in order and drops the others at once, and
            # its publishes reach the broker in order, so any answer to them would have come before this one.
            await eventually(lambda: asker.messages)
        assert [(m.topic, m.correlation) for m in asker.messages] == [(response_topic("hub4", COLLECTOR_USER), b"own")]
        assert any(foreign in r.getMessage() and "not in this agent's tree" in r.getMessage() for r in caplog.records)
    finally:
        await asyncio.to_thread(asker.close)
