"""``homediag-lab`` end to end: up, fault from another invocation, status, down."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lab import netns

pytestmark = pytest.mark.lab


def lab_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], capture_output=True, text=True, timeout=60)


def test_up_fault_status_down() -> None:
    if reason := netns.ip_available():
        pytest.skip(reason)
    up = lab_cli("up", "--devices", "1", "--upnp")
    assert up.returncode == 0, up.stderr
    summary = json.loads(up.stdout)
    lab_id = summary["id"]
    try:
        fault = lab_cli("fault", "router-reboot", "1", "--id", lab_id)
        assert fault.returncode == 0, fault.stderr
        record = json.loads(fault.stdout)
        assert record["kind"] == "router_reboot" and record["details"]["bootid"] == 2
        bad = lab_cli("fault", "crash-loop", "tasmota-0", "--id", lab_id)
        assert bad.returncode == 2 and "usage" in bad.stderr
        status = json.loads(lab_cli("status", "--id", lab_id).stdout)
        assert all(p["alive"] for p in status["processes"]) and status["broker_pid"]
    finally:
        down = lab_cli("down", "--id", lab_id)
    assert down.returncode == 0, down.stderr
    assert netns.namespaces_of(f"{netns.PREFIX_FAMILY}{lab_id}-") == []
