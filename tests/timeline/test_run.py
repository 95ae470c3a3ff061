"""``homediag-agent run`` as a process: a clean stop on SIGTERM, one line and exit 2 on a bad configuration."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from agent.capture import evidence_files
from agent.config import RecorderConfig
from agent.recorder import FlightRecorder
from shared.models import EventKind, EventState, Inventory, LogLine, TimelineEvent, utcnow

AGENT = str(Path(sys.executable).with_name("homediag-agent"))


def test_a_bad_configuration_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"probes": {"interval_s": -1}}))
    done = subprocess.run([AGENT, "-c", str(config), "run"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "interval_s" in done.stderr


def test_sigterm_is_a_clean_stop_recorded_in_the_timeline(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(state),
                "discovery": {"mdns": False, "arp": False},
                "web": {"enabled": False},
                "probes": {"interval_s": 0.2},
            }
        )
    )
    process = subprocess.Popen(
        [AGENT, "-c", str(config), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        events = state / "recorder" / "events.jsonl"
        deadline = time.monotonic() + 30
        while not (events.exists() and "agent_start" in events.read_text()) and process.poll() is None:
            assert time.monotonic() < deadline, "the agent did not start"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    recorder = FlightRecorder(state / "recorder", RecorderConfig())
    kinds = [e.kind for e in recorder.events()]
    recorder.close()
    assert kinds[0] is EventKind.AGENT_START and kinds[-1] is EventKind.AGENT_STOP
    assert '"clean_stop": true' in (state / "hub-boot.json").read_text()


def test_evidence_files_of_a_capture_window() -> None:
    now = utcnow()
    events = [TimelineEvent(ts=now, kind=EventKind.GATEWAY, state=EventState.DOWN, source="monitor.gateway")]
    logs = [
        LogLine(ts=now, source="zigbee2mqtt", level="warning", device_id="0x00158d0001", message="timeout"),
        LogLine(ts=now, source="agent/../x", message="odd source"),
    ]
    files = evidence_files(events, logs, Inventory(generated_at=now, devices=[]), None)
    assert sorted(files) == ["inventory.json", "logs/agent____x.log", "logs/zigbee2mqtt.log", "timeline.jsonl"]
    assert TimelineEvent.model_validate_json(files["timeline.jsonl"].splitlines()[0]) == events[0]
    assert b"warning [0x00158d0001] timeout" in files["logs/zigbee2mqtt.log"]
