"""A broken firmware knowledge base costs a fault its device-specific knowledge, never its bundle.

The running agent reads the profiles at the first fault, not at start; a profile that does not parse must then
be logged and the fault diagnosed and bundled without profiles (real collector, real broker, real agent runtime).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.config import AgentConfig, load_config
from agent.runtime import AgentRuntime
from lab.mosquitto import Mosquitto
from shared.models import EventKind, EventState
from tests.waiting import eventually

from .conftest import Stack


@pytest.mark.broker
async def test_a_fault_is_bundled_when_the_firmware_profiles_are_broken(
    stack: Stack, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "tasmota.yaml").write_text("family: tasmota\nrecognise: [this is not a mapping\n")
    path = await asyncio.to_thread(stack.enrolled_agent, "hub")
    config = AgentConfig.model_validate(
        {
            **load_config(path, environ={}).model_dump(mode="json"),
            "broker": {"url": mosquitto.url, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
            "discovery": {"mdns": False, "arp": False},
            "web": {"enabled": False},
            "capture": {"before_s": 60, "after_s": 1},
            "firmware_profiles": str(profiles),
        }
    )
    async with AgentRuntime(config) as runtime:
        recorder = runtime.recorder
        assert recorder is not None
        await eventually(
            lambda: any(e.kind is EventKind.BROKER and e.state is EventState.UP for e in recorder.events()),
            within=15,
            blocking=True,
        )
        await asyncio.to_thread(mosquitto.kill)
        await eventually(
            lambda: any(e.kind is EventKind.BROKER and e.state is EventState.DOWN for e in recorder.events()),
            within=15,
            blocking=True,
        )
        await asyncio.to_thread(mosquitto.start)
        await eventually(lambda: runtime.captured, within=30, blocking=True)
        [(signature, bundle_id)] = runtime.captured
        assert signature == "broker_down"
        assert any("firmware profiles not read" in line.message for line in recorder.logs())
        await eventually(
            lambda: stack.api("GET", f"/api/v1/bundles/{bundle_id}/meta")[0] == 200, within=30, blocking=True
        )
