"""An enrolled ``homediag-agent run`` in a lab home's hub, with a collector in the lab's internet namespace.

Used by the timeline acceptance tests and ``bench.agent_footprint``. The agent's configuration names only the
lab's addresses; its state directory and the collector's data directory live under the caller's work dir.
The agent gets the hub's clock-offset file (``LabHome.hub_env``), so ``hub_clock_step`` reaches it.
``reboot_hub`` restarts the hub as a whole; the agent then runs in a Linux time namespace whose boot-time offset
makes the kernel report a boot just now (``lab.timens``), as a real reboot would.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from agent.identity import Identity
from collector.models import Priority, TicketIntake
from collector.store import Store
from collector.store.backends.sqlite import SqliteBackend
from lab.collector_process import CollectorProcess
from lab.home import LabHome, LabProcess
from shared.bundle import VerifiedBundle, read_bundle
from shared.models import EventKind, EventState, TimelineEvent, utcnow
from shared.redact import Redactor
from shared.signing import public_key_from_text

AGENT = str(Path(sys.executable).with_name("homediag-agent"))
HOUSEHOLD = "hh-lab"


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@dataclass
class AgentProcess:
    lab: LabHome
    collector: CollectorProcess
    config_path: Path
    state_dir: Path
    process: LabProcess | None = None

    @classmethod
    def create(
        cls,
        lab: LabHome,
        tmp: Path,
        *,
        after_s: float = 4.0,
        group_window_s: float = 120.0,
        probe_interval_s: float = 0.5,
        extra: dict[str, Any] | None = None,
        state_dir: Path | None = None,
    ) -> AgentProcess:
        """``state_dir``: where the agent keeps its state (default ``tmp/agent``; ``lab.hub_disk()`` to let a fault
        fill the hub's disk)."""
        collector = CollectorProcess(tmp / "collector", host=lab.internet_ip, netns=lab.internet_ns)
        collector.start()
        state = state_dir or tmp / "agent"
        config: dict[str, Any] = {
            "state_dir": str(state),
            "collector": {"url": collector.url, "timeout_s": 5},
            "network": {
                "interfaces": [lab.hub_iface],
                "gateway": lab.gateway_ip,
                "dns_resolver": lab.dns_ip,
                "dns_names": ["internet.lab"],
                "internet_targets": [f"{lab.internet_ip}:{lab.http_target_port}"],
            },
            "probes": {
                "interval_s": probe_interval_s,
                "timeout_s": min(0.4, probe_interval_s),
                "failures_before_down": 2,
            },
            "broker": {"url": f"mqtt://127.0.0.1:{lab.broker_port}", "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
            "capture": {"before_s": 60, "after_s": after_s, "group_window_s": group_window_s, "device_grace_s": 20},
            "upload": {"backoff_initial_s": 0.5, "backoff_max_s": 2.0},
            "discovery": {"mdns": False, "arp": False},
            "web": {"enabled": False},
        }
        for section, values in (extra or {}).items():
            config[section] = {**config.get(section, {}), **values}
        path = tmp / "agent.yaml"
        path.write_text(yaml.safe_dump(config))
        agent = cls(lab, collector, path, state)
        token = collector.admin("token", "create", "--household", HOUSEHOLD).split()[-1]
        lab.run(lab.hub_ns, [AGENT, "-c", str(path), "enroll", "--token", token], timeout=30)
        return agent

    def start(self, *, booted_now: bool = False) -> None:
        """``booted_now``: the hub's kernel tells the agent it booted a moment ago (a time namespace)."""
        command = [AGENT, "-c", str(self.config_path), "-v", "run"]
        if booted_now:
            command = [sys.executable, "-m", "lab.timens", *command]
        self.process = self.lab.spawn(self.lab.hub_ns, command, name="agent", env=self.lab.hub_env())

    def reboot_hub(self, *, power_loss: bool = False, down_s: float = 3.0) -> None:
        """The hub restarts: the agent and the hub's broker stop (SIGTERM, or SIGKILL for a power loss), the
        hub's cable is dead for ``down_s``, then the broker and the agent start in a hub that has just booted."""
        assert self.process is not None and self.lab.broker is not None
        if power_loss:
            self.kill()
            self.lab.broker.kill()
        else:
            self.stop()
            self.lab.broker.stop()
        self.lab.hub_cable(False)
        time.sleep(down_s)
        self.lab.hub_cable(True)
        self.lab.start_broker(self.lab.broker_port)
        self.start(booted_now=True)

    def kill(self) -> None:
        assert self.process is not None
        self.process.signal(signal.SIGKILL)
        self.process.stop(grace_s=5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace_s=10)

    def close(self) -> None:
        self.stop()
        self.collector.stop()

    # -- what the agent recorded ------------------------------------------------------------------------------
    def events(self) -> list[TimelineEvent]:
        path = self.state_dir / "recorder" / "events.jsonl"
        if not path.exists():
            return []
        found = []
        for line in path.read_text().splitlines():
            try:
                found.append(TimelineEvent.model_validate_json(line))
            except ValueError:
                continue
        return found

    def wait_event(self, predicate: Callable[[TimelineEvent], bool], timeout: float) -> TimelineEvent | None:
        return wait_for(lambda: next((e for e in self.events() if predicate(e)), None), timeout)

    def wait_ready(self, devices: int, timeout: float = 40, since: datetime | None = None) -> None:
        """Every check up (since ``since``) and ``devices`` devices online, by what the agent recorded."""

        def ready() -> bool:
            events = self.events()
            up = {
                e.kind.value
                for e in events
                if e.source.startswith("monitor.") and e.state is EventState.UP and (since is None or e.ts >= since)
            }
            availability = {e.device_id: e.state for e in events if e.kind is EventKind.DEVICE_AVAILABILITY}
            online = [device for device, state in availability.items() if state is EventState.ONLINE]
            return {"hub_link", "gateway", "dns", "internet", "broker"} <= up and len(online) >= devices

        assert wait_for(ready, timeout), f"agent not ready: {[e.model_dump(mode='json') for e in self.events()][-20:]}"

    # -- the collector's side ----------------------------------------------------------------------------------
    def _store(self) -> Store:
        return Store(SqliteBackend(self.collector.data_dir / "collector.sqlite3"))

    def open_ticket(self) -> int:
        store = self._store()
        try:
            intake = TicketIntake(
                household=HOUSEHOLD,
                device="living-room curtain",
                symptom="no remote control",
                when="at night",
                priority=Priority.P2,
            )
            return store.create_ticket(
                intake, "test", slack=timedelta(hours=6), lookback=timedelta(days=1), now=utcnow()
            ).id
        finally:
            store.close()

    def bundles(self) -> list[dict[str, Any]]:
        store = self._store()
        try:
            return [json.loads(b.model_dump_json()) for b in store.list_bundles()]
        finally:
            store.close()

    def bundle(self, record: dict[str, Any]) -> VerifiedBundle:
        data = (self.collector.data_dir / "blobs" / record["sha256"][:2] / f"{record['sha256']}.tar.gz").read_bytes()
        store = self._store()
        try:
            agent = store.get_agent(record["agent_id"])
        finally:
            store.close()
        assert agent is not None
        return read_bundle(data, public_key_from_text(agent.public_key))

    def as_redacted(self, text: str) -> str:
        """``text`` as the agent's redaction writes it into a bundle (a fault signature names a device by its id)."""
        return Redactor(Identity.load_or_create(self.state_dir).require_enrollment().pseudonym_key_bytes).redact_text(
            text
        )

    def wait_bundle(self, signature: str, timeout: float = 60) -> dict[str, Any]:
        """The first bundle captured for ``signature`` as the agent's timeline names it (redacted in the bundle)."""
        signature = self.as_redacted(signature)
        found = wait_for(lambda: [b for b in self.bundles() if b["trigger"]["signature"] == signature], timeout)
        assert found, (
            f"no {signature} bundle; have {[b['trigger']['signature'] for b in self.bundles()]}; "
            f"agent log: {self.process.log_tail(3000) if self.process else ''}"
        )
        return found[0]
