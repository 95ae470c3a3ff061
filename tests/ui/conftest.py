"""The browser tests' servers: a collector process with a ticket and a signed bundle (its chart and diagnosis), and
the real SMTP server and webhook receiver of the delivery tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from agent.diagnosis import diagnose
from lab.collector_process import CollectorProcess
from shared.bundle import build_bundle
from shared.models import CaptureWindow, EventKind, EventState, LogLine, RedactionSummary, Trigger, TriggerKind, utcnow
from shared.profiles import load_profiles
from shared.signing import generate_private_key, public_key_to_text
from tests.browser import require_chromium
from tests.collector.test_delivery import servers  # noqa: F401 - a fixture, found by pytest here
from tests.diagnosis.test_engine import HOME, ev, router_reboot


@dataclass(frozen=True)
class Seeded:
    collector: CollectorProcess
    ticket_id: int
    engineer_token: str  # an engineer's API token ("api"); the engineer "eve" signs in with "s3cret-pass"


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[Seeded]:
    require_chromium()
    collector = CollectorProcess(tmp_path / "collector")
    collector.start()
    try:
        collector.admin("user", "create", "--name", "eve", "--role", "engineer", "--password", "s3cret-pass")
        engineer = collector.admin("user", "create", "--name", "api", "--role", "engineer").split()[-1]
        token = collector.admin("token", "create", "--household", "hh-ui").split()[-1]
        key = generate_private_key()
        status, body = collector.request(
            "POST",
            "/api/v1/enroll",
            body={"token": token, "public_key": public_key_to_text(key.public_key()), "hostname": "hub"},
        )
        agent_id = json.loads(body)["agent_id"]
        status, ticket = collector.request(
            "POST",
            "/api/v1/tickets",
            token=engineer,
            body={
                "household": "hh-ui",
                "device": "curtain",
                "symptom": "the curtain ignores the app at night",
                "when": "every night around 03:00",
                "priority": "P2",
            },
        )
        ticket_id = json.loads(ticket)["id"]
        now = utcnow()
        start = now - timedelta(minutes=30)
        events = router_reboot(start + timedelta(minutes=10), seconds=240, devices={"curtain": 20, "plug": 60})
        events.append(
            ev(start + timedelta(minutes=20), EventKind.DEVICE_REBOOT, EventState.REBOOTED, "plug", reason="Exception")
        )
        events.append(ev(start + timedelta(minutes=15), EventKind.FAULT, EventState.CLOSED, signature="router_reboot"))
        # A log line from arendst/Tasmota#13196 names the tasmota-mqtt-network-unreachable known issue.
        tasmota_log = LogLine(
            ts=start + timedelta(minutes=12),
            source="tasmota",
            device_id="plug",
            message="MQT: Connect failed to 192.168.99.6:1883, rc -2. Retry in 10 sec",
        )
        report = diagnose(events, HOME, {}, load_profiles(), now, logs=[tasmota_log])
        _, data = build_bundle(
            files={
                "timeline.jsonl": "".join(e.model_dump_json() + "\n" for e in events).encode(),
                "inventory.json": HOME.model_dump_json().encode(),
                "diagnosis.json": report.model_dump_json().encode(),
            },
            agent_id=agent_id,
            household="hh-ui",
            trigger=Trigger(kind=TriggerKind.FAULT, signature="router_reboot"),
            window=CaptureWindow(start=start, end=now),
            redaction=RedactionSummary(),
            private_key=key,
        )
        status, _ = collector.request(
            "POST", "/api/v1/bundles", data=data, content_type="application/vnd.homediag.bundle+gzip"
        )
        assert status == 201
        yield Seeded(collector, ticket_id, engineer)
    finally:
        collector.stop()
