"""``AgentRuntime`` in-process against a real Mosquitto: a broker crash goes through monitors, recorder and rules."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import AgentConfig
from agent.discovery.mqtt import MqttDiscovery
from agent.live_handlers import RuntimeLiveHandlers
from agent.monitors.connectivity import ConnectivityMonitor
from agent.runtime import AgentRuntime
from lab.mosquitto import Mosquitto
from shared.models import EventKind, EventState, TimelineEvent
from tests.configs import FAST_RECONNECT, NO_LAN_SCAN, agent_config
from tests.waiting import eventually

pytestmark = [pytest.mark.broker, pytest.mark.usefixtures("no_blocking_in_loop")]


async def wait_event(runtime: AgentRuntime, predicate: Callable[[TimelineEvent], bool]) -> TimelineEvent:
    recorder = runtime.recorder
    assert recorder is not None
    found: TimelineEvent = await eventually(
        lambda: next((e for e in recorder.events() if predicate(e)), None), what="the awaited timeline event"
    )
    return found


async def test_a_broker_crash_is_a_broker_fault_and_the_state_survives(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = agent_config(
        tmp_path,
        broker={"url": mosquitto.url, **FAST_RECONNECT},
        probes={"interval_s": 0.1, "timeout_s": 0.5, "failures_before_down": 2},
        discovery=NO_LAN_SCAN,
    )
    async with AgentRuntime(config) as runtime:
        await wait_event(runtime, lambda e: e.kind is EventKind.BROKER and e.state is EventState.UP)
        await asyncio.to_thread(mosquitto.kill)
        await wait_event(runtime, lambda e: e.kind is EventKind.BROKER and e.state is EventState.DOWN)
        assert runtime.engine.open_faults == ["network"]
        await asyncio.to_thread(mosquitto.start)
        closed = await wait_event(runtime, lambda e: e.kind is EventKind.FAULT and e.state is EventState.CLOSED)
    assert closed.detail["signature"] == "broker_down"
    async with AgentRuntime(config) as again:  # the recorder is read back; the closed fault stays closed
        assert again.recorder is not None
        kinds = [e.kind for e in again.recorder.events()]
        assert kinds.count(EventKind.AGENT_START) == 2 and kinds.count(EventKind.AGENT_STOP) == 1
        assert again.engine.open_faults == []


async def test_the_running_agent_saves_its_inventory_when_it_changes(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-click diagnosis (another process) and a hub that loses power rely on ``inventory.json``."""
    monkeypatch.setattr("agent.runtime.INVENTORY_SAVE_EVERY_S", 0.1)
    config = agent_config(tmp_path, broker={"url": mosquitto.url}, discovery=NO_LAN_SCAN)
    saved = tmp_path / "inventory.json"
    async with AgentRuntime(config) as runtime:
        await asyncio.to_thread(
            subprocess.run,
            [
                "mosquitto_pub",
                "-h",
                mosquitto.host,
                "-p",
                str(mosquitto.port),
                "-t",
                "tele/kitchen/LWT",
                "-m",
                "Online",
                "-r",
            ],
            check=True,
        )
        await wait_event(runtime, lambda e: e.kind is EventKind.DEVICE_AVAILABILITY)
        await eventually(
            lambda: saved.exists() and "tasmota:kitchen" in saved.read_text(),
            blocking=True,
            what="inventory.json written while the agent runs",
        )


def _runtime_config(mosquitto: Mosquitto, tmp_path: Path) -> AgentConfig:
    return agent_config(tmp_path, broker={"url": mosquitto.url}, discovery=NO_LAN_SCAN)


async def test_a_crash_in_the_fault_clock_is_logged_and_the_clock_restarts(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a supervisor a crashed tick would stop fault capture silently for the rest of the run."""
    ticks_after_crash = asyncio.Event()
    crashed = False

    async with AgentRuntime(_runtime_config(mosquitto, tmp_path)) as runtime:
        real_tick = runtime.engine.tick

        def tick_that_fails_once(now):  # type: ignore[no-untyped-def]
            nonlocal crashed
            if not crashed:
                crashed = True
                raise RuntimeError("engine bug")
            ticks_after_crash.set()
            return real_tick(now)

        monkeypatch.setattr(runtime.engine, "tick", tick_that_fails_once)
        await asyncio.wait_for(ticks_after_crash.wait(), 10)
        assert runtime.supervisor.crashes["fault-clock"] == 1
        assert not runtime.supervisor.fatal.is_set()
    logged = next(r for r in caplog.records if "fault-clock crashed" in r.getMessage())
    assert logged.exc_info is not None and "engine bug" in str(logged.exc_info[1])


async def test_a_crash_in_the_recorder_sync_makes_the_agent_exit_non_zero(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``homediag-agent run`` returns 1, so systemd starts a fresh agent that reads its recorder back."""
    from agent.commands.run import _run

    async def broken_sync(self: AgentRuntime) -> None:
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(AgentRuntime, "_sync", broken_sync)
    assert await asyncio.wait_for(_run(_runtime_config(mosquitto, tmp_path)), 30) == 1
    assert any(r.exc_info and "recorder bug" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize(
    ("part", "loop", "task"),
    [
        (ConnectivityMonitor, "_run", "connectivity-monitor"),
        (MqttDiscovery, "_consume", "mqtt-discovery-consumer"),
    ],
)
async def test_a_crash_in_a_parts_loop_makes_the_agent_exit_non_zero(
    mosquitto: Mosquitto,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    part: type,
    loop: str,
    task: str,
) -> None:
    """A part's loop that died would otherwise leave the agent looking alive with no monitor or no discovery."""
    from agent.commands.run import _run

    async def broken_loop(self: object) -> None:
        await asyncio.sleep(0.2)
        raise RuntimeError("loop bug")

    monkeypatch.setattr(part, loop, broken_loop)
    assert await asyncio.wait_for(_run(_runtime_config(mosquitto, tmp_path)), 30) == 1
    crashes = [r for r in caplog.records if r.exc_info and "loop bug" in str(r.exc_info[1])]
    assert len(crashes) == 1 and task in crashes[0].getMessage()  # logged once, with its traceback


async def test_the_live_diagnosis_reads_profiles_and_a_week_off_the_event_loop(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Under ``no_blocking_in_loop``: loading the firmware profiles on the loop would fail this test."""
    async with AgentRuntime(_runtime_config(mosquitto, tmp_path)) as runtime:
        report = await RuntimeLiveHandlers(runtime).diagnose()
    broker_check = next(check for check in report["checks"]["live"] if check["name"] == "broker")
    assert report["verdict"] and broker_check["ok"] is True
