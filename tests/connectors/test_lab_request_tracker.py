"""The whole path in the network-namespace home: a router reboot → the agent's fault bundle → the homediag ticket →
a Request Tracker ticket holding the bundle as an internal comment, byte-identical and verifiable with
``homediag-agent bundle verify``. The collector and RT both run in the lab's "internet" namespace."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.agent_process import AgentProcess, wait_for
from lab.home import DeviceSpec, LabHome

from .rt_server import HOUSEHOLD_FIELD, QUEUE, SCRIP_SECRET, TICKET_FIELD, RtServer, available, start_rt

pytestmark = [pytest.mark.lab, pytest.mark.slow]
AGENT_CLI = str(Path(sys.executable).with_name("homediag-agent"))
RT_PORT = 8080


@pytest.fixture
def home_with_rt(lab_factory, tmp_path: Path) -> Iterator[tuple[LabHome, AgentProcess, RtServer]]:  # type: ignore[no-untyped-def]
    reason = available()
    if reason is not None:
        pytest.skip(reason)
    lab = lab_factory(devices=[DeviceSpec("plug", "tasmota", 2.0), DeviceSpec("relay", "shelly", 2.0)], upnp=True)
    lab.start_broker()
    rt = start_rt(tmp_path / "rt", host=lab.internet_ip, port=RT_PORT, netns=lab.internet_ns)
    agent = None
    try:
        (tmp_path / "collector").mkdir()
        (tmp_path / "collector" / "collector.yaml").write_text(
            yaml.safe_dump(
                {
                    "notify": {"poll_interval_s": 0.2, "public_url": f"http://{lab.internet_ip}:8470"},
                    "connectors": {
                        "helpdesks": [
                            {
                                "name": "rt",
                                "kind": "request_tracker",
                                "url": rt.url,
                                "token": rt.token,
                                "queue": QUEUE,
                                "ticket_field": TICKET_FIELD,
                                "household_field": HOUSEHOLD_FIELD,
                                "inbound_secret": SCRIP_SECRET,
                            }
                        ]
                    },
                }
            )
        )
        agent = AgentProcess.create(lab, tmp_path)
        agent.start()
        agent.wait_ready(2)
        yield lab, agent, rt
    finally:
        if agent is not None:
            agent.close()
        rt.stop()


def _rt_comment_files(rt: RtServer, remote: str) -> list[dict[str, Any]]:
    history = rt.get_json(f"/REST/2.0/ticket/{remote}/history?per_page=100&fields=Type") or {"items": []}
    files = []
    for tx in history["items"]:
        if tx["Type"] != "Comment":
            continue
        found = rt.get_json(f"/REST/2.0/transaction/{tx['id']}/attachments?fields=Filename") or {"items": []}
        files += [a for a in found["items"] if a.get("Filename")]
    return files


def test_a_router_reboot_lands_in_request_tracker_as_a_verifiable_internal_comment(
    home_with_rt: tuple[LabHome, AgentProcess, RtServer], tmp_path: Path
) -> None:
    lab, agent, rt = home_with_rt
    ticket = agent.open_ticket()
    lab.faults.router_reboot(20).wait(60)
    record = agent.wait_bundle("router_reboot", timeout=60)
    assert record["ticket_id"] == ticket

    query = f"'CF.{{{TICKET_FIELD}}}' = '{ticket}'".replace(" ", "%20").replace("'", "%27").replace("=", "%3D")
    found = wait_for(lambda: (rt.get_json(f"/REST/2.0/tickets?query={query}") or {}).get("items"), 60)
    assert found, rt.log.read_text()[-2000:]
    remote = found[0]["id"]
    files = wait_for(lambda: _rt_comment_files(rt, remote), 60)
    assert [f["Filename"] for f in files] == [f"{record['bundle_id']}.tar.gz"], agent.collector.log_path.read_text()[
        -3000:
    ]
    attachment = rt.get_json(f"/REST/2.0/attachment/{files[0]['id']}")
    received = base64.b64decode(attachment["Content"])
    stored = (agent.collector.data_dir / "blobs" / record["sha256"][:2] / f"{record['sha256']}.tar.gz").read_bytes()
    assert received == stored  # byte-identical to what the hub signed and uploaded
    history = rt.get_json(f"/REST/2.0/ticket/{remote}/history?per_page=100&fields=Type")
    assert "Correspond" not in [t["Type"] for t in history["items"]]  # internal only

    copy = tmp_path / files[0]["Filename"]
    copy.write_bytes(received)
    verified = subprocess.run(
        [AGENT_CLI, "-c", str(agent.config_path), "bundle", "verify", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0 and verified.stdout.startswith("OK:"), verified.stdout + verified.stderr
