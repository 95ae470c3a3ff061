"""A broken firmware knowledge base costs a fault its device-specific knowledge, never its bundle.

The running agent reads the profiles at the first fault, not at start; a profile that does not parse must then
be logged and the fault diagnosed and bundled without profiles (real collector, real broker, real agent runtime).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.runtime import AgentRuntime
from lab.mosquitto import Mosquitto

from .conftest import Stack, broker_outage_bundle, running_agent_config


@pytest.mark.broker
async def test_a_fault_is_bundled_when_the_firmware_profiles_are_broken(
    stack: Stack, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "tasmota.yaml").write_text("family: tasmota\nrecognise: [this is not a mapping\n")
    path = await asyncio.to_thread(stack.enrolled_agent, "hub")
    async with AgentRuntime(running_agent_config(path, mosquitto, firmware_profiles=str(profiles))) as runtime:
        await broker_outage_bundle(stack, runtime, mosquitto)
        assert runtime.recorder is not None
        assert any("firmware profiles not read" in line.message for line in runtime.recorder.logs())
