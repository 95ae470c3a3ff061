"""``AgentRuntime`` in-process against a real Mosquitto: a broker crash goes through monitors, recorder and rules."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import AgentConfig
from agent.runtime import AgentRuntime
from lab.mosquitto import Mosquitto
from shared.models import EventKind, EventState, TimelineEvent

pytestmark = pytest.mark.broker


async def wait_event(runtime: AgentRuntime, predicate: Callable[[TimelineEvent], bool]) -> TimelineEvent:
    assert runtime.recorder is not None
    for _ in range(200):
        found = next((e for e in runtime.recorder.events() if predicate(e)), None)
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no such event in {runtime.recorder.events()}")


async def test_a_broker_crash_is_a_broker_fault_and_the_state_survives(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = AgentConfig.model_validate(
        {
            "state_dir": str(tmp_path),
            "broker": {"url": mosquitto.url, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
            "probes": {"interval_s": 0.1, "timeout_s": 0.5, "failures_before_down": 2},
            "discovery": {"mdns": False, "arp": False},
        }
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
    config = AgentConfig.model_validate(
        {
            "state_dir": str(tmp_path),
            "broker": {"url": mosquitto.url},
            "discovery": {"mdns": False, "arp": False},
        }
    )
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
        for _ in range(100):
            if saved.exists() and "tasmota:kitchen" in saved.read_text():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("inventory.json not written while the agent runs")
