"""The quick-start demo: a collector on loopback, a local agent enrolling and delivering a bundle to a ticket.

``python -m lab.demo [--dir var/demo]`` (``scripts/demo.sh`` runs setup first). Every run starts from an empty
demo directory, so it can be repeated. Nothing leaves loopback: the agent's configuration names no interface
and no probe target; it only reads the host's facts (psutil, /proc, resolv.conf).

The steps are small functions so that later stages (the whole-home lab) can be added as further steps.
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
        done = subprocess.run([str(script), "-c", str(self.agent_config), *args], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise DemoError(f"homediag-agent {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    # -- steps ---------------------------------------------------------------------------------------------------
    def create_accounts(self) -> str:
        token = self.collector.admin("token", "create", "--household", HOUSEHOLD).split()[-1]
        self.engineer_token = self.collector.admin("user", "create", "--name", "demo-engineer", "--role", "engineer").split()[-1]
        return token

    def write_agent_config(self) -> None:
        self.agent_config = self.directory / "agent.yaml"
        self.agent_config.write_text(yaml.safe_dump({
            "state_dir": str(self.directory / "agent"),
            "collector": {"url": self.collector.url},
            # No interfaces, gateway or probe targets: the demo agent addresses nothing but the loopback collector.
            "network": {"interfaces": [], "gateway": None, "internet_targets": []},
            "discovery": {"mdns": False, "arp": False},
            "web": {"enabled": False},
        }, sort_keys=False))

    def open_ticket(self) -> dict[str, Any]:
        return self.api("POST", "/api/v1/tickets", {
            "household": HOUSEHOLD, "device": "living-room curtain", "symptom": SYMPTOM,
            "when": "every night, between about 03:00 and 03:10", "priority": "P2",
        })


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "demo", help="demo directory, emptied first")
    args = parser.parse_args(argv)
    # SIGTERM leaves through the same path as Ctrl-C, so the collector is always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args.dir.resolve())
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
