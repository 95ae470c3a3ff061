"""Being kicked off a good session must not make the next recovery slower (``shared.aio.Backoff``).

The decision is checked with an injected clock and sleep; then the agent's channel and the collector's relay are
kicked again and again off a real broker, and the delays they chose before reconnecting are read from their logs.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import pytest

from agent.live import Consent, LiveChannel
from collector.live import LiveRelay
from shared.aio import Backoff, reconnect_forever
from shared.live import LiveGrant
from shared.mqtt_session import MqttSession
from tests.waiting import eventually

from .conftest import COLLECTOR_USER, SupportBroker
from .handlers import FakeHomeHandlers
from .probe import Probe

MIN_S, MAX_S, HEALTHY_S = 0.05, 5.0, 0.2


class _Done(Exception):
    """Ends the loop under test (not one it retries)."""


def test_backoff_doubles_on_failures_and_starts_over_after_a_healthy_session() -> None:
    backoff = Backoff(1.0, 8.0, healthy_after_s=30.0, jitter=lambda: 1.0)
    assert [backoff.after_session(None) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.after_session(29.0) == 8.0  # up, but not for long: still backing off
    assert backoff.after_session(30.0) == 1.0
    assert backoff.after_session(None) == 2.0


async def test_a_loop_kicked_off_healthy_sessions_never_backs_off() -> None:
    now = [0.0]
    delays: list[float] = []
    up = asyncio.Event()
    sessions = 0

    async def kicked_session() -> None:
        nonlocal sessions
        sessions += 1
        if sessions > 6:
            raise _Done
        if sessions % 2:  # odd sessions connect, stay up a minute (on the fake clock), then get kicked
            up.set()
            for _ in range(3):  # let the loop's watcher see it
                await asyncio.sleep(0)
            now[0] += 60
        up.clear()
        raise ConnectionError("kicked")

    async def sleep(delay: float) -> None:
        delays.append(delay)

    with pytest.raises(_Done):
        await reconnect_forever(
            kicked_session,
            ConnectionError,
            min_s=1.0,
            max_s=64.0,
            healthy_after_s=30.0,
            established=up,
            logger=logging.getLogger("test"),
            what="session",
            clock=lambda: now[0],
            sleep=sleep,
        )
    # After each healthy session the delay starts over; a failed attempt right after one doubles it once.
    # (Without the reset: 1, 2, 4, 8, 16, 32 times a jitter of 0.5 to 1.)
    assert len(delays) == 6 and all(d <= limit for d, limit in zip(delays, [1, 2, 1, 2, 1, 2], strict=True)), delays


def _delays(caplog: pytest.LogCaptureFixture, logger: str) -> list[float]:
    delays = []
    for record in caplog.records:
        if record.name == logger and "retrying in" in record.msg:
            assert isinstance(record.args, tuple), record.args
            delay = record.args[2]
            assert isinstance(delay, int | float), record.args
            delays.append(float(delay))
    return delays


async def _kick(support: SupportBroker, user: str, session: MqttSession, times: int) -> None:
    """Log in with the same account ``times`` times, each once the session has been up for a healthy while."""
    for _ in range(times):
        await asyncio.wait_for(session.connected.wait(), 5)
        await asyncio.sleep(HEALTHY_S * 1.5)
        sessions = session.attempts
        probe = await asyncio.to_thread(Probe, support.broker.host, support.broker.port, user, support.passwords[user])
        await asyncio.to_thread(probe.close)
        # Counted, not sampled: the session may be lost and back up between two looks at ``connected``.
        await eventually(partial(_new_session, session, sessions), within=5, what="the broker closing the session")


def _new_session(session: MqttSession, sessions_before: int) -> bool:
    return session.attempts > sessions_before


@pytest.mark.broker
async def test_repeated_kicks_do_not_stretch_recovery(
    support_broker: SupportBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    kicks = 5
    agent = "agt_0000000000000001"
    grant = LiveGrant(broker_url=support_broker.url, username=agent, password=support_broker.add_user(agent))
    async with (
        LiveRelay(
            support_broker.url,
            COLLECTOR_USER,
            support_broker.passwords[COLLECTOR_USER],
            reconnect_min_s=MIN_S,
            reconnect_max_s=MAX_S,
            reconnect_healthy_s=HEALTHY_S,
        ) as relay,
        LiveChannel(
            agent,
            grant,
            FakeHomeHandlers(),
            lambda: Consent("allowed"),
            reconnect_min_s=MIN_S,
            reconnect_max_s=MAX_S,
            reconnect_healthy_s=HEALTHY_S,
        ) as channel,
    ):
        await asyncio.gather(
            _kick(support_broker, COLLECTOR_USER, relay.session, kicks),
            _kick(support_broker, agent, channel.session, kicks),
        )
        await asyncio.wait_for(asyncio.gather(relay.connected.wait(), channel.connected.wait()), 5)
        answer = await relay.request(agent, "inventory", {}, timeout_s=5)
        assert answer.ok
    relay_delays, channel_delays = _delays(caplog, "collector.live"), _delays(caplog, "agent.live")
    print(f"\nafter {kicks} kicks: relay waited {relay_delays}, agent waited {channel_delays}")
    # Without the reset the fifth wait would be 16 × the first; with it, every wait is the first one.
    assert len(relay_delays) >= kicks and len(channel_delays) >= kicks
    assert max(relay_delays[:kicks] + channel_delays[:kicks]) <= MIN_S, (relay_delays, channel_delays)
