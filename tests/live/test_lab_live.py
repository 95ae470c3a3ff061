"""Live state end to end in the network-namespace home.

The agent runs in the hub; the collector and the support broker (Mosquitto with the files the collector
writes) live in the internet namespace; the engineer's HTTP requests are made from there too.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.live_broker import BrokerAccounts
from collector.store import Store
from collector.store.backends.sqlite import SqliteBackend
from lab.agent_process import AGENT, HOUSEHOLD, wait_for
from lab.collector_process import CollectorProcess
from lab.home import DeviceSpec, LabHome
from lab.mosquitto import Mosquitto

from .conftest import support_listener

pytestmark = [pytest.mark.lab, pytest.mark.broker, pytest.mark.slow]

SUPPORT_BROKER_PORT = 8883

_CLIENT = """
import json, sys, urllib.request, urllib.error
method, url, token, body = sys.argv[1:5]
request = urllib.request.Request(url, method=method, data=body.encode() if body else None,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=30) as answer:
        print(json.dumps([answer.status, json.loads(answer.read() or b"null")]))
except urllib.error.HTTPError as exc:
    print(json.dumps([exc.code, json.loads(exc.read() or b"null")]))
"""


class Engineer:
    """HTTP requests from inside the internet namespace, where the collector listens."""

    def __init__(self, lab: LabHome, collector: CollectorProcess, token: str) -> None:
        self.lab, self.collector, self.token = lab, collector, token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        done = self.lab.run(
            self.lab.internet_ns,
            [
                sys.executable,
                "-c",
                _CLIENT,
                method,
                self.collector.url + path,
                self.token,
                json.dumps(body) if body is not None else "",
            ],
            timeout=60,
        )
        status, answer = json.loads(done.stdout.strip().splitlines()[-1])
        return status, answer


@pytest.fixture
def live_home(lab_factory, tmp_path: Path) -> Iterator[tuple[LabHome, Engineer, str, Path, Any]]:  # type: ignore[no-untyped-def]
    lab = lab_factory(devices=[DeviceSpec("plug", "tasmota", 2.0)], upnp=False)
    lab.start_broker()
    data = tmp_path / "collector"
    data.mkdir()
    accounts = BrokerAccounts(data / "broker", "homediag-collector")
    (tmp_path / "support-broker").mkdir()
    broker = Mosquitto(
        SUPPORT_BROKER_PORT,
        lab.internet_ip,
        netns=lab.internet_ns,
        workdir=tmp_path / "support-broker",
        allow_anonymous=False,
        extra_config=support_listener(accounts),
    )
    broker.start()
    support_url = f"mqtt://{lab.internet_ip}:{SUPPORT_BROKER_PORT}"
    pid_file = tmp_path / "support-broker.pid"
    pid_file.write_text(str(broker.pid))
    (data / "collector.yaml").write_text(
        yaml.safe_dump(
            {
                "live": {
                    "url": support_url,
                    "accounts_dir": str(accounts.directory),
                    "pid_file": str(pid_file),
                    "request_timeout_s": 5,
                }
            }
        )
    )
    collector = CollectorProcess(data, host=lab.internet_ip, netns=lab.internet_ns)
    collector.start()
    state = tmp_path / "agent"
    config = tmp_path / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(state),
                "collector": {"url": collector.url},
                "network": {
                    "interfaces": [lab.hub_iface],
                    "gateway": lab.gateway_ip,
                    "dns_resolver": lab.dns_ip,
                    "dns_names": ["internet.lab"],
                    "internet_targets": [f"{lab.internet_ip}:{lab.http_target_port}"],
                },
                "probes": {"interval_s": 0.5, "timeout_s": 0.4},
                "broker": {"url": f"mqtt://127.0.0.1:{lab.broker_port}"},
                "discovery": {"mdns": False, "arp": False},
                "web": {"enabled": False},
                "live": {"consent": "allowed"},
            }
        )
    )
    token = collector.admin("token", "create", "--household", HOUSEHOLD).split()[-1]
    lab.run(lab.hub_ns, [AGENT, "-c", str(config), "enroll", "--token", token], timeout=30)
    agent_id = _agent_id(collector)
    engineer = Engineer(
        lab, collector, collector.admin("user", "create", "--name", "eve", "--role", "engineer").split()[-1]
    )
    agent = lab.spawn(lab.hub_ns, [AGENT, "-c", str(config), "-v", "run"], name="agent")
    try:
        yield lab, engineer, agent_id, state, agent
    finally:
        agent.stop(grace_s=10)
        collector.stop()
        broker.close()


def _agent_id(collector: CollectorProcess) -> str:
    store = Store(SqliteBackend(collector.data_dir / "collector.sqlite3"))
    try:
        return store.list_agents()[0].agent_id
    finally:
        store.close()


def _online(engineer: Engineer, agent_id: str) -> bool:
    return engineer.call("GET", f"/api/v1/agents/{agent_id}/presence")[1].get("online") is True


def test_engineer_reads_device_state_and_captures_a_bundle_onto_the_ticket(live_home) -> None:  # type: ignore[no-untyped-def]
    _lab, engineer, agent_id, state, agent = live_home
    assert wait_for(lambda: _online(engineer, agent_id), 30), agent.log_tail()
    status, ticket = engineer.call(
        "POST",
        "/api/v1/tickets",
        {
            "household": HOUSEHOLD,
            "device": "plug",
            "symptom": "the plug ignores the app",
            "when": "now",
            "priority": "P2",
        },
    )
    assert status == 201

    def plug_state() -> dict[str, Any] | None:
        status, inventory = engineer.call("POST", f"/api/v1/agents/{agent_id}/live/inventory")
        plug = (
            next((d for d in inventory["result"]["devices"] if d.get("family") == "tasmota"), None)
            if status == 200
            else None
        )
        if plug is None:
            return None
        status, answer = engineer.call(
            "POST", f"/api/v1/agents/{agent_id}/live/device.state", {"device_id": plug["id"]}
        )
        return answer["result"] if status == 200 and answer["result"].get("uptime_s") is not None else None

    device = wait_for(plug_state, 30)
    assert device and device["available"] is True and device["firmware"] and device["last_messages"], device

    status, captured = engineer.call("POST", f"/api/v1/agents/{agent_id}/live/bundle.capture")
    assert status == 200, captured
    bundle_id = captured["result"]["bundle_id"]
    attached = wait_for(
        lambda: [b["bundle_id"] for b in engineer.call("GET", f"/api/v1/tickets/{ticket['id']}")[1]["bundles"]], 30
    )
    assert attached == [bundle_id]

    # The customer withdraws consent on the hub: refused, visibly, and audited.
    (state / "live-consent.json").write_text(json.dumps({"mode": "off", "granted_until": None}))
    status, refused = engineer.call("POST", f"/api/v1/agents/{agent_id}/live/timeline.recent", {"minutes": 5})
    assert (status, refused["error"]["code"]) == (409, "consent_refused")
    audit = engineer.collector.admin("audit", "--target", agent_id)
    outcomes = [json.loads(line)["detail"].get("outcome") for line in audit.splitlines() if '"live.' in line]
    assert outcomes[-1] == "consent_refused" and "ok" in outcomes


def test_presence_returns_by_itself_after_a_router_reboot(live_home) -> None:  # type: ignore[no-untyped-def]
    lab, engineer, agent_id, _state, agent = live_home
    assert wait_for(lambda: _online(engineer, agent_id), 30), agent.log_tail()
    lab.faults.router_reboot(8).wait(30)
    assert wait_for(lambda: _online(engineer, agent_id), 60), agent.log_tail()
    status, answer = engineer.call("POST", f"/api/v1/agents/{agent_id}/live/probe.run")
    assert status == 200 and answer["result"]["checks"], answer
