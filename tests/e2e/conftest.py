"""A real collector process on loopback, its admin CLI, and the real agent CLI as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.collector_process import CollectorProcess

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


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    collector = CollectorProcess(tmp_path / "collector")
    collector.start()
    try:
        engineer = user_token(collector.admin("user", "create", "--name", "eve", "--role", "engineer"))
        yield Stack(collector, tmp_path, engineer)
    finally:
        collector.stop()
