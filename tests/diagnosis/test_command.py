"""``homediag-agent diagnose`` as a customer and an engineer use it: offline from a bundle, and live with --send."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import jsonschema

from lab.collector_process import CollectorProcess
from shared.bundle import build_bundle
from shared.models import CaptureWindow, RedactionSummary, Trigger, TriggerKind
from shared.signing import generate_private_key, public_key_to_text

from .test_engine import HOME, NOW, router_reboot

AGENT = str(Path(sys.executable).with_name("homediag-agent"))
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "schemas" / "diagnosis-report.schema.json").read_text())


def _agent(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "agent.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    return subprocess.run([AGENT, "-c", str(config), *args], capture_output=True, text=True, timeout=60)


def test_diagnose_a_bundle_offline(tmp_path: Path) -> None:
    events = []
    for day in range(3):
        events += router_reboot((NOW - timedelta(days=day + 1)).replace(hour=3, minute=1), devices={"curtain": 10})
    key = generate_private_key()
    _, data = build_bundle(
        files={
            "timeline.jsonl": "".join(e.model_dump_json() + "\n" for e in events).encode(),
            "inventory.json": HOME.model_dump_json().encode(),
            "host.json": b"{}",
        },
        agent_id="agt_1",
        household="hh",
        trigger=Trigger(kind=TriggerKind.FAULT, signature="router_reboot"),
        window=CaptureWindow(start=NOW - timedelta(days=4), end=NOW),
        redaction=RedactionSummary(),
        private_key=key,
    )
    bundle = tmp_path / "b.tar.gz"
    bundle.write_bytes(data)
    done = _agent(
        tmp_path,
        "diagnose",
        "--from-bundle",
        str(bundle),
        "--public-key",
        public_key_to_text(key.public_key()),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    jsonschema.validate(report, SCHEMA)
    assert report["verdict"] == "router_scheduled_reboot"
    human = _agent(
        tmp_path,
        "diagnose",
        "--from-bundle",
        str(bundle),
        "--public-key",
        public_key_to_text(key.public_key()),
        "--lang",
        "zh",
    )
    assert "路由器" in human.stdout and "03:01" in human.stdout
    wrong = _agent(
        tmp_path,
        "diagnose",
        "--from-bundle",
        str(bundle),
        "--public-key",
        public_key_to_text(generate_private_key().public_key()),
    )
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1


def test_live_diagnosis_sends_evidence_and_opens_a_ticket(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "collector")
    with collector:
        engineer = collector.admin("user", "create", "--name", "eve", "--role", "engineer").split()[-1]
        token = collector.admin("token", "create", "--household", "hh-1").split()[-1]
        config = tmp_path / "agent.yaml"
        config.write_text(
            f"state_dir: {tmp_path / 'state'}\ncollector: {{url: '{collector.url}'}}\n"
            "discovery: {mdns: false, arp: false}\nweb: {enabled: false}\n"
        )
        run = [AGENT, "-c", str(config)]
        subprocess.run([*run, "enroll", "--token", token], check=True, capture_output=True, timeout=60)
        done = subprocess.run([*run, "diagnose", "--send", "--json"], capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["verdict"] == "healthy" and report["priority"] == "P3"
        ticket_id = done.stderr.split("ticket ", 1)[1].split()[0]
        status, body = collector.request("GET", f"/api/v1/tickets/{ticket_id}", token=engineer)
        ticket = json.loads(body)
        assert status == 200 and ticket["intake"]["channel"] == "self-diagnosis" and ticket["priority"] == "P3"
        assert ticket["bundles"][0]["trigger"]["kind"] == "self-diagnosis"
