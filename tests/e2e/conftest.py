"""A real collector process on loopback, its admin CLI, and the real agent CLI as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import AgentConfig, load_config
from agent.runtime import AgentRuntime
from lab.collector_process import CollectorProcess
from lab.mosquitto import Mosquitto
from shared.models import EventKind, EventState
from tests.waiting import eventually

AGENT = str(Path(sys.executable).with_name("homediag-agent"))
HOUSEHOLD = "hh-e2e"


@dataclass
class Stack:
    """One collector with a household, an engineer, and the means to run agents against it."""

    collector: CollectorProcess
    tmp: Path
    engineer_token: str
    household: str = HOUSEHOLD

    def agent_config(self, name: str, collector_url: str | None = None, state_root: Path | None = None) -> Path:
        state = self.tmp / name
        state.mkdir(exist_ok=True)
        path = state / "agent.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "state_dir": str((state_root or state) / "state"),
                    "collector": {"url": collector_url or self.collector.url, "timeout_s": 10},
                    "upload": {"backoff_initial_s": 0.2, "backoff_max_s": 1.0, "wait_s": 15},
                }
            )
        )
        return path

    def agent_argv(self, config: Path, *args: str) -> list[str]:
        return [AGENT, "-c", str(config), *args]

    @staticmethod
    def agent_env(extra: dict[str, str] | None = None) -> dict[str, str]:
        """This process's environment without HOMEDIAG_* overrides, plus ``extra``."""
        return {**{k: v for k, v in os.environ.items() if not k.startswith("HOMEDIAG_")}, **(extra or {})}

    def agent(
        self, config: Path, *args: str, check: bool = True, timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.agent_argv(config, *args), capture_output=True, text=True, timeout=timeout, env=self.agent_env(env)
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"homediag-agent {' '.join(args)} exited {done.returncode}: {done.stderr}{done.stdout}"
            )
        return done

    def enrolment_token(self) -> str:
        return self.collector.admin("token", "create", "--household", self.household).split()[-1]

    def enrolled_agent(self, name: str, collector_url: str | None = None, state_root: Path | None = None) -> Path:
        config = self.agent_config(name, collector_url, state_root)
        self.agent(config, "enroll", "--token", self.enrolment_token(), "--collector", self.collector.url)
        return config

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, data = self.collector.request(method, path, token=self.engineer_token, body=body)
        return status, json.loads(data or b"null")

    def open_ticket(self, symptom: str) -> dict[str, Any]:
        status, ticket = self.api(
            "POST",
            "/api/v1/tickets",
            {
                "household": self.household,
                "device": "living-room curtain",
                "symptom": symptom,
                "when": "every night around 03:00",
                "priority": "P2",
            },
        )
        assert status == 201, ticket
        return ticket

    def ticket(self, ticket_id: Any) -> dict[str, Any]:
        status, ticket = self.api("GET", f"/api/v1/tickets/{ticket_id}")
        assert status == 200, ticket
        return ticket


def user_token(output: str) -> str:
    return output.split()[-1]


def running_agent_config(path: Path, mosquitto: Mosquitto, **extra: Any) -> AgentConfig:
    """The enrolled agent at ``path`` as ``AgentRuntime`` runs it in a test: the test's broker, quick reconnects,
    no mDNS/ARP or page, a short capture window."""
    return AgentConfig.model_validate(
        {
            **load_config(path, environ={}).model_dump(mode="json"),
            "broker": {"url": mosquitto.url, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
            "discovery": {"mdns": False, "arp": False},
            "web": {"enabled": False},
            "capture": {"before_s": 60, "after_s": 1},
            **extra,
        }
    )


async def broker_outage_bundle(
    stack: Stack, runtime: AgentRuntime, mosquitto: Mosquitto, before_outage: Callable[[], None] = lambda: None
) -> str:
    """Kills and restarts the broker under the running agent; returns the id of the ``broker_down`` bundle once
    the collector has it."""
    recorder = runtime.recorder
    assert recorder is not None

    def broker(state: EventState) -> Callable[[], bool]:
        return lambda: any(e.kind is EventKind.BROKER and e.state is state for e in recorder.events())

    await eventually(broker(EventState.UP), within=15, blocking=True)
    await asyncio.to_thread(before_outage)
    await asyncio.to_thread(mosquitto.kill)
    await eventually(broker(EventState.DOWN), within=15, blocking=True)
    await asyncio.to_thread(mosquitto.start)
    await eventually(lambda: runtime.captured, within=30, blocking=True)
    [(signature, bundle_id)] = runtime.captured
    assert signature == "broker_down"
    await eventually(lambda: stack.api("GET", f"/api/v1/bundles/{bundle_id}/meta")[0] == 200, within=30, blocking=True)
    return bundle_id


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    collector = CollectorProcess(tmp_path / "collector")
    collector.start()
    try:
        engineer = user_token(collector.admin("user", "create", "--name", "eve", "--role", "engineer"))
        yield Stack(collector, tmp_path, engineer)
    finally:
        collector.stop()
