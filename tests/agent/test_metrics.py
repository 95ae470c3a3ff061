"""The agent's optional metrics endpoint: off by default; when on, on the loopback interface only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.config import AgentConfig
from agent.runtime import AgentRuntime
from lab.mosquitto import Mosquitto

pytestmark = pytest.mark.broker


def _config(tmp_path: Path, mosquitto: Mosquitto, **extra: Any) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "state_dir": str(tmp_path),
            "broker": {"url": mosquitto.url},
            "discovery": {"mdns": False, "arp": False},
            "web": {"enabled": False},
            **extra,
        }
    )


async def test_the_endpoint_is_off_by_default(mosquitto: Mosquitto, tmp_path: Path) -> None:
    assert AgentConfig().metrics.enabled is False
    async with AgentRuntime(_config(tmp_path, mosquitto)) as runtime:
        assert runtime.metrics is None


async def test_when_on_it_serves_the_hubs_figures_on_loopback(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with AgentRuntime(_config(tmp_path, mosquitto, metrics={"enabled": True, "port": 0})) as runtime:
        assert runtime.metrics is not None and runtime.metrics.port
        url = f"http://127.0.0.1:{runtime.metrics.port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as answer:
            assert answer.status == 200
            text = await answer.text()
        assert runtime.metrics._runner is not None
        assert {address[0] for address in runtime.metrics._runner.addresses} == {"127.0.0.1"}
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert values["homediag_agent_bundles_captured"] == 0
    assert "homediag_agent_inventory_devices" in values
