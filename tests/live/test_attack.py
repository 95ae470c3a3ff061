"""An attack on the live channel with one hub's real broker credentials, against a real Mosquitto configured as
``homediag-collector broker config`` prints it, while another household's live state keeps being asked.

The attacker holds hub A's account. It tries to take over the sessions of the collector's relay and of hub B by
their client ids, to log in as them, to read other trees (wildcards, ``$SYS``, shared subscriptions), to forge
requests, answers and presence, to poison retained topics and to flood the relay with an oversized answer.
Every attempt is counted; none may succeed, and every request to household B must be answered throughout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from paho.mqtt.client import topic_matches_sub

from agent.live import Consent, LiveChannel
from collector.live import LiveRelay, LiveTimeout
from collector.live_broker import MAX_PACKET_BYTES
from shared.live import LiveGrant, agent_tree, request_topic, response_topic, status_topic
from tests.waiting import eventually

from .conftest import COLLECTOR_USER, SupportBroker, running_support_broker
from .handlers import FakeHomeHandlers
from .probe import Probe

pytestmark = pytest.mark.broker

HUB_A = "agt_a77ac4e4a77ac4e4"  # the attacker holds this hub's credentials
HUB_B = "agt_b0b0b0b0b0b0b0b0"  # another household, asked by an engineer all along
HUB_C = "agt_c1c1c1c1c1c1c1c1"  # a hub whose pending request's correlation data has leaked to the attacker
REPLICA = "homediag-collector-2"  # a second collector replica on the same broker


@dataclass
class Scorecard:
    attempts: list[tuple[str, bool]] = field(default_factory=list)

    def record(self, attack: str, succeeded: bool) -> None:
        self.attempts.append((attack, succeeded))

    @property
    def successes(self) -> list[str]:
        return [attack for attack, succeeded in self.attempts if succeeded]


@dataclass
class HouseholdB:
    """An engineer asking hub B again and again; every answer and failure counted."""

    answered: int = 0
    failed: list[str] = field(default_factory=list)

    async def ask_forever(self, relay: LiveRelay) -> None:
        while True:
            try:
                answer = await relay.request(HUB_B, "device.state", {"device_id": "plug-1"}, timeout_s=3)
                if answer.ok and answer.result["rssi_dbm"] == -61:
                    self.answered += 1
                else:
                    self.failed.append(f"answer {answer}")
            except Exception as exc:  # counted, not raised: the figures say what happened
                self.failed.append(repr(exc))
            await asyncio.sleep(0.02)


KICK_NOTICED_S = 0.2  # on loopback a victim sees its session closed within milliseconds


def _takeovers(support: SupportBroker, card: Scorecard, attacker_password: str, victims: Callable[[], bool]) -> None:
    """Connect with the victims' client ids (and as them): nobody may be disturbed, no foreign login may pass."""
    host, port = support.broker.host, support.broker.port
    for client_id in (
        COLLECTOR_USER,
        f"homediag-collector-{COLLECTOR_USER}",
        REPLICA,
        HUB_B,
        f"homediag-agent-{HUB_B}",
    ):
        probe = Probe(host, port, HUB_A, attacker_password, client_id=client_id)
        try:
            disturbed = probe.wait_for(lambda: not victims(), KICK_NOTICED_S)
            card.record(f"take over client id {client_id}", not probe.accepted or disturbed)
        finally:
            probe.close()
    for user, password in (
        (COLLECTOR_USER, attacker_password),
        (HUB_B, attacker_password),
        (COLLECTOR_USER, ""),
        (REPLICA, "guess"),
    ):
        probe = Probe(host, port, user, password, client_id=user)
        try:
            disturbed = probe.wait_for(lambda: not victims(), KICK_NOTICED_S)
            card.record(f"log in as {user} with a wrong password", probe.accepted or disturbed)
        finally:
            probe.close()


FORBIDDEN_SUBSCRIPTIONS = (
    "#",
    "homediag/#",
    f"homediag/agents/{HUB_B}/#",
    "homediag/agents/+/req/#",
    "homediag/agents/+/resp/#",
    "homediag/agents/+/status",
    "$SYS/#",
    f"$share/steal/homediag/agents/+/resp/{COLLECTOR_USER}",
    f"$share/steal/homediag/agents/{HUB_B}/req/#",
    "$share/steal/#",
)


def _shared_filter(topic: str) -> str:
    """``$share/<group>/<filter>`` → ``<filter>``: what a shared subscription would deliver."""
    return topic.split("/", 2)[2] if topic.startswith("$share/") else topic


def _forgeries(probe: Probe, card: Scorecard) -> None:
    """Publish where hub A has no business; each must be refused in the PUBACK."""
    forged_answer = json.dumps({"ok": True, "result": {"forged": True}}).encode()
    own_answers = response_topic(HUB_A, COLLECTOR_USER)
    for topic, payload, retain in (
        (request_topic(HUB_B, "bundle.capture"), b'{"method":"bundle.capture"}', False),
        (request_topic(HUB_A, "inventory"), b'{"method":"inventory"}', False),
        (response_topic(HUB_B, COLLECTOR_USER), forged_answer, False),
        (status_topic(HUB_B), b"offline", False),
        (status_topic(HUB_B), b"offline", True),
        (request_topic(HUB_B, "inventory"), b'{"method":"inventory"}', True),
        (f"{agent_tree(HUB_B)}/status/extra", b"online", True),
        ("$SYS/broker/clients/connected", b"0", True),
        (f"$share/steal/{status_topic(HUB_B)}", b"offline", False),
    ):
        card.record(
            f"publish {'retained ' if retain else ''}{topic}",
            probe.publish(topic, payload, retain=retain, response_topic=own_answers),
        )


async def test_a_hubs_credentials_cannot_disturb_another_household(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    card, household_b = Scorecard(), HouseholdB()
    with running_support_broker(tmp_path, extra_config="sys_interval 1\n") as support:
        passwords = {hub: support.add_user(hub) for hub in (HUB_A, HUB_B, HUB_C)}
        passwords[REPLICA] = support.add_user(REPLICA)
        host, port = support.broker.host, support.broker.port
        b_presence: list[bool] = []
        grant_b = LiveGrant(broker_url=support.url, username=HUB_B, password=passwords[HUB_B])
        async with (
            LiveRelay(support.url, COLLECTOR_USER, support.passwords[COLLECTOR_USER]) as relay,
            LiveRelay(support.url, REPLICA, passwords[REPLICA]) as replica,
            LiveChannel(HUB_B, grant_b, FakeHomeHandlers(), lambda: Consent("allowed"), on_presence=b_presence.append),
        ):
            await asyncio.wait_for(asyncio.gather(relay.connected.wait(), replica.connected.wait()), 5)
            seen = await eventually(
                lambda: (presence := relay.presence(HUB_B)) is not None and presence.online and presence, within=5
            )
            b_since = seen.since
            caplog.clear()  # from here on, any session that ends is a victim of the attack

            def victims_undisturbed() -> bool:
                return relay.connected.is_set() and replica.connected.is_set() and b_presence == [True]

            asker = asyncio.create_task(household_b.ask_forever(relay), name="household-b")
            try:
                before = household_b.answered
                await asyncio.to_thread(_takeovers, support, card, passwords[HUB_A], victims_undisturbed)
                during_takeovers = household_b.answered - before

                # A will into B's tree: presence spoofing when the attacker's connection ends.
                spoof = await asyncio.to_thread(
                    Probe, host, port, HUB_A, passwords[HUB_A], will=(status_topic(HUB_B), b"offline")
                )
                await asyncio.to_thread(spoof.close, with_will=True)
                await asyncio.sleep(0.3)  # a will would land now
                card.record("presence spoofing by will", relay.presence(HUB_B) != seen or b_presence != [True])

                # Hub C's request is pending; its correlation data reaches the attacker (the worst case).
                leaky_c = await asyncio.to_thread(Probe, host, port, HUB_C, passwords[HUB_C])
                attacker = await asyncio.to_thread(Probe, host, port, HUB_A, passwords[HUB_A])
                try:
                    assert leaky_c.accepted and attacker.accepted
                    assert await asyncio.to_thread(leaky_c.subscribe, f"{agent_tree(HUB_C)}/req/#")
                    granted = [
                        topic for topic in FORBIDDEN_SUBSCRIPTIONS if await asyncio.to_thread(attacker.subscribe, topic)
                    ]
                    assert await asyncio.to_thread(attacker.subscribe, f"{agent_tree(HUB_A)}/req/#")
                    asked_c = asyncio.create_task(relay.request(HUB_C, "inventory", {}, timeout_s=1))
                    asked_a = asyncio.create_task(relay.request(HUB_A, "inventory", {}, timeout_s=1))
                    assert await asyncio.to_thread(leaky_c.wait_for, lambda: leaky_c.messages)
                    leaked = leaky_c.messages[0].correlation
                    await asyncio.to_thread(_forgeries, attacker, card)
                    # Its own tree is writable: answer C's request from there, live and retained.
                    forged = json.dumps({"ok": True, "result": {"forged": True}}).encode()
                    for retain in (False, True):
                        await asyncio.to_thread(
                            attacker.publish,
                            response_topic(HUB_A, COLLECTOR_USER),
                            forged,
                            retain=retain,
                            correlation=leaked,
                        )
                    outcomes = await asyncio.gather(asked_c, asked_a, return_exceptions=True)
                    card.record("answer C's request from A's tree", not isinstance(outcomes[0], LiveTimeout))
                    # The control: A's own request reached the attacker, so its subscriptions were live.
                    assert any(m.topic == request_topic(HUB_A, "inventory") for m in attacker.messages)
                    await asyncio.sleep(1.2)  # $SYS is published every second: give a leak time to show
                    foreign = {m.topic for m in attacker.messages if not m.topic.startswith(agent_tree(HUB_A) + "/")}
                    for topic in FORBIDDEN_SUBSCRIPTIONS:
                        card.record(
                            f"subscribe {topic} (granted: {topic in granted})",
                            any(topic_matches_sub(_shared_filter(topic), seen_topic) for seen_topic in foreign),
                        )
                    huge = await asyncio.to_thread(
                        attacker.publish,
                        response_topic(HUB_A, COLLECTOR_USER),
                        b"x" * (MAX_PACKET_BYTES + 1),
                        correlation=leaked,
                    )
                    card.record("oversized answer to the relay", huge)
                finally:
                    await asyncio.to_thread(attacker.close)
                    await asyncio.to_thread(leaky_c.close)
            finally:
                asker.cancel()
                await asyncio.gather(asker, return_exceptions=True)
            print(
                f"\nattacks tried: {len(card.attempts)}, succeeded: {len(card.successes)}; household B: "
                f"{household_b.answered} requests answered ({during_takeovers} during the takeover attempts), "
                f"{len(household_b.failed)} failed; "
                f"relay rejected {relay.rejected_answers} forged answers"
            )
            assert card.successes == [], card.successes
            assert household_b.failed == [] and during_takeovers >= 10 and household_b.answered >= 20, household_b
            assert relay.presence(HUB_B) == seen and seen.since == b_since and b_presence == [True]
            assert relay.rejected_answers >= 1  # the leaked-correlation answer reached the relay and was refused
            ended = [r.getMessage() for r in caplog.records if "session ended" in r.getMessage()]
            assert ended == [], f"victims' sessions ended during the attack: {ended}"


async def test_the_takeover_check_catches_a_listener_that_does_not_bind_client_ids(tmp_path: Path) -> None:
    """The control: without ``use_username_as_clientid`` the same takeovers knock the relay and hub B off."""
    card = Scorecard()
    with running_support_broker(tmp_path, unbound_client_ids=True) as support:
        passwords = {hub: support.add_user(hub) for hub in (HUB_A, HUB_B)}
        passwords[REPLICA] = support.add_user(REPLICA)
        b_presence: list[bool] = []
        grant_b = LiveGrant(broker_url=support.url, username=HUB_B, password=passwords[HUB_B])
        async with (
            LiveRelay(support.url, COLLECTOR_USER, support.passwords[COLLECTOR_USER], reconnect_min_s=0.05) as relay,
            LiveRelay(support.url, REPLICA, passwords[REPLICA], reconnect_min_s=0.05) as replica,
            LiveChannel(
                HUB_B,
                grant_b,
                FakeHomeHandlers(),
                lambda: Consent("allowed"),
                reconnect_min_s=0.05,
                on_presence=b_presence.append,
            ) as hub_b,
        ):
            await asyncio.wait_for(
                asyncio.gather(relay.connected.wait(), replica.connected.wait(), hub_b.connected.wait()), 5
            )

            def victims_undisturbed() -> bool:
                return relay.connected.is_set() and replica.connected.is_set() and b_presence == [True]

            await asyncio.to_thread(_takeovers, support, card, passwords[HUB_A], victims_undisturbed)
    assert (
        f"take over client id {COLLECTOR_USER}" in card.successes and f"take over client id {HUB_B}" in card.successes
    )
