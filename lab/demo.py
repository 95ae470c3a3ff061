"""The quick-start demo: a collector on loopback, a local agent enrolling and delivering a bundle to a ticket,
then the whole home in network namespaces, where a router reboot ends up diagnosed on the ticket.

``python -m lab.demo [--dir var/demo] [--no-home]`` (``scripts/demo.sh`` runs setup first). Every run starts
from an empty demo directory, so it can be repeated. Nothing leaves loopback and the lab's own namespaces: the
loopback agent's configuration names no interface and no probe target; the home's agent probes only the lab.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .collector_process import CollectorProcess
from .netns import ip_available

REPO = Path(__file__).resolve().parent.parent
HOUSEHOLD = "demo-household"
SYMPTOM = "curtain doesn't respond remotely at night"


class DemoError(RuntimeError):
    pass


@dataclass
class Demo:
    directory: Path
    collector: CollectorProcess
    engineer_token: str = ""
    agent_config: Path | None = None

    # -- plumbing ------------------------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, *, raw: bool = False) -> Any:
        status, data = self.collector.request(method, path, token=self.engineer_token, body=body)
        if status >= 300:
            raise DemoError(f"{method} {path} answered {status}: {data.decode(errors='replace')}")
        return data if raw else json.loads(data)

    def agent(self, *args: str) -> str:
        assert self.agent_config is not None
        script = Path(sys.executable).with_name("homediag-agent")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEDIAG_")}
        done = subprocess.run(
            [str(script), "-c", str(self.agent_config), *args], capture_output=True, text=True, env=env
        )
        if done.returncode != 0:
            raise DemoError(f"homediag-agent {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    # -- steps ---------------------------------------------------------------------------------------------------
    def create_accounts(self) -> str:
        token = self.collector.admin("token", "create", "--household", HOUSEHOLD).split()[-1]
        self.engineer_token = self.collector.admin(
            "user", "create", "--name", "demo-engineer", "--role", "engineer"
        ).split()[-1]
        return token

    def write_agent_config(self) -> None:
        self.agent_config = self.directory / "agent.yaml"
        self.agent_config.write_text(
            yaml.safe_dump(
                {
                    "state_dir": str(self.directory / "agent"),
                    "collector": {"url": self.collector.url},
                    # No interfaces, gateway or probe targets: the demo agent addresses nothing but the loopback collector.
                    "network": {"interfaces": [], "gateway": None, "internet_targets": []},
                    "discovery": {"mdns": False, "arp": False},
                    "web": {"enabled": False},
                },
                sort_keys=False,
            )
        )

    def open_ticket(self) -> dict[str, Any]:
        return self.api(
            "POST",
            "/api/v1/tickets",
            {
                "household": HOUSEHOLD,
                "device": "living-room curtain",
                "symptom": SYMPTOM,
                "when": "every night, between about 03:00 and 03:10",
                "priority": "P2",
            },
        )


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run(directory: Path) -> int:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    collector = CollectorProcess(directory / "collector")
    demo = Demo(directory, collector)
    _say(f"starting the collector on {collector.url} (data in {collector.data_dir})")
    with collector:
        token = demo.create_accounts()
        print(f"enrolment token for household {HOUSEHOLD!r} created; engineer 'demo-engineer' created")
        demo.write_agent_config()
        _say("enrolling the agent")
        print(demo.agent("enroll", "--token", token).strip())
        _say(f"the customer reports: {SYMPTOM!r}")
        ticket = demo.open_ticket()
        print(f"ticket {ticket['id']} opened for household {HOUSEHOLD}")
        _say("the agent creates a signed, redacted bundle and uploads it")
        print(demo.agent("bundle", "create", "--upload").strip())
        _say(f"ticket {ticket['id']} as the engineer sees it")
        shown = demo.api("GET", f"/api/v1/tickets/{ticket['id']}")
        print(json.dumps(shown, indent=2, default=str))
        bundles = shown.get("bundles") or []
        if not bundles:
            raise DemoError("the bundle did not reach the ticket")
        bundle_id = bundles[0]["bundle_id"]
        _say(f"downloading bundle {bundle_id} and verifying it offline with the agent's public key")
        downloaded = directory / f"{bundle_id}.tar.gz"
        downloaded.write_bytes(demo.api("GET", f"/api/v1/bundles/{bundle_id}", raw=True))
        print(demo.agent("bundle", "verify", str(downloaded)).strip())
    _say("done: the collector is stopped; everything is under " + str(directory))
    return 0


def whole_home(directory: Path) -> int:
    """The lab home: devices, the agent in the hub, the collector in the internet; the router reboots at night."""
    from .agent_process import AgentProcess
    from .home import DeviceSpec, LabHome

    devices = [
        DeviceSpec("curtain-motor", "esphome", 2.0),
        DeviceSpec("plug", "tasmota", 2.0),
        DeviceSpec("relay", "shelly", 2.0),
        DeviceSpec("zigbee2mqtt", "zigbee2mqtt", 2.0),
    ]
    _say("building the whole home in network namespaces: router, hub with broker and agent, 4 devices, internet")
    with LabHome(devices=devices, upnp=True) as lab:
        lab.start_broker()
        agent = AgentProcess.create(lab, directory / "home")
        try:
            agent.start()
            agent.wait_ready(7)
            ticket = agent.open_ticket()
            print(
                f"agent running in {lab.hub_ns}; collector at {agent.collector.url} in {lab.internet_ns}; "
                f"ticket {ticket} open for the curtain"
            )
            _say("03:00 — the router restarts (all its links down for 20 s)")
            fault = lab.faults.router_reboot(20).wait(60)
            print(f"router down {fault.started_at:%H:%M:%S} – {fault.ended_at:%H:%M:%S}")
            record = agent.wait_bundle("router_reboot", timeout=90)
            bundle = agent.bundle(record)
            diagnosis = json.loads(bundle.files["diagnosis.json"])
            first = diagnosis["findings"][0]
            _say(f"bundle {record['bundle_id']} arrived, verified, on ticket {record['ticket_id']}")
            print(f"verdict: {diagnosis['verdict']} (priority {diagnosis['priority']})")
            for label, key in (
                ("symptom", "symptom"),
                ("root cause", "root_cause"),
                ("solution", "solution"),
                ("risk", "risk"),
            ):
                print(f"  {label}: {first['explanation'][key]}")
            events = bundle.timeline()
            print(
                f"the bundle's timeline holds {len(events)} events; engineers see it as a chart at "
                f"{agent.collector.url}/ui/tickets/{record['ticket_id']} (inside the lab's internet namespace)"
            )
        finally:
            agent.close()
    _say("the lab is torn down")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "demo", help="demo directory, emptied first")
    parser.add_argument("--no-home", action="store_true", help="skip the network-namespace home (needs root)")
    args = parser.parse_args(argv)
    # SIGTERM leaves through the same path as Ctrl-C, so the collector is always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        status = run(args.dir.resolve())
        if status == 0 and not args.no_home and not ip_available():
            status = whole_home(args.dir.resolve())
        return status
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
