"""The discovery path's CPU per message on a busy hub's steady reports, without a lab or a broker.

``python -m bench.discovery_steady [--rounds 200]``: the messages ``bench.agent_footprint``'s 200 simulated
devices send (50 Tasmota, 50 Shelly, 50 ESPHome, a Zigbee2MQTT bridge with 49 devices: ~250 every 3 s), built by
the lab's own simulator families, go through ``MqttDiscovery.handle`` into an inventory and a flight recorder:
first the devices' connect messages (retained state, discovery configs), then ``--rounds`` rounds of their
reports. Prints the CPU time per report message and, as the baseline in the same run, the CPU time of only
decoding each payload (``json.loads`` where it is JSON); timeline events and log lines the reports recorded (0:
nothing changes in a steady home). Nothing is asserted. The agent's own figure is ``bench.agent_footprint``'s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.clock import Clock
from agent.config import AgentConfig
from agent.discovery.mqtt import MqttDiscovery
from agent.inventory import InventoryStore
from agent.recorder import FlightRecorder
from lab.simulators.families import FAMILIES, Message, Snapshot

START = datetime(2026, 12, 6, tzinfo=UTC)
INTERVAL = timedelta(seconds=3)
DEVICES = [(f"fp-{family}-{i:03d}", family, 0) for family in ("tasmota", "shelly", "esphome") for i in range(50)]
DEVICES.append(("zigbee2mqtt", "zigbee2mqtt", 49))

Batch = list[tuple[str, bytes]]


def _snapshot(name: str, zigbee_devices: int, round_: int) -> Snapshot:
    return Snapshot(
        name=name,
        ip="192.0.2.10",
        boot_count=1,
        restart_reason="Power On",
        uptime_s=30.0 + INTERVAL.total_seconds() * round_,
        link_count=1,
        downtime_s=0.0,
        mqtt_count=1,
        rssi_dbm=-60,
        now=START + round_ * INTERVAL,
        zigbee_devices=zigbee_devices,
    )


def _wire(messages: list[Message]) -> Batch:
    return [(m.topic, m.payload if isinstance(m.payload, bytes) else m.payload.encode()) for m in messages]


def messages(rounds: int) -> tuple[Batch, list[Batch]]:
    """The connect messages, then each round's reports."""
    connect = [
        item
        for name, family, zigbee in DEVICES
        for item in _wire(FAMILIES[family].on_connect(_snapshot(name, zigbee, 0), True))
    ]
    reports = [
        [
            item
            for name, family, zigbee in DEVICES
            for item in _wire(FAMILIES[family].report(_snapshot(name, zigbee, r)))
        ]
        for r in range(1, rounds + 1)
    ]
    return connect, reports


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.discovery_steady")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    connect, reports = messages(args.rounds)
    count = sum(len(batch) for batch in reports)
    with tempfile.TemporaryDirectory(prefix="homediag-steady-") as tmp:
        config = AgentConfig.model_validate({"state_dir": tmp, "broker": {"url": "mqtt://127.0.0.1:1"}})
        recorder = FlightRecorder(Path(tmp) / "recorder", config.recorder)
        inventory = InventoryStore(None)
        discovery = MqttDiscovery(config, recorder, inventory, Clock())  # never entered: no session, no broker
        for topic, payload in connect:
            discovery.handle(topic, payload, START)
        events, logs = len(recorder.events()), len(recorder.logs())
        began = time.process_time()
        for round_, batch in enumerate(reports, start=1):
            at = START + round_ * INTERVAL  # a batch crosses into the loop at one moment
            for topic, payload in batch:
                discovery.handle(topic, payload, at)
        handled = time.process_time() - began
        events, logs = len(recorder.events()) - events, len(recorder.logs()) - logs
        recorder.close()
    began = time.process_time()
    for batch in reports:
        for _, payload in batch:
            if payload.startswith(b"{"):
                json.loads(payload)
    decoded = time.process_time() - began
    print(f"{count} report messages from {len(inventory)} devices, {args.rounds} rounds")
    print(
        f"discovery: {1e6 * handled / count:.1f} µs CPU a message = {handled / decoded:.1f} × only decoding "
        f"the payloads ({1e6 * decoded / count:.1f} µs)"
    )
    print(f"recorded by the reports: {events} timeline events, {logs} log lines")


if __name__ == "__main__":
    main()
