"""MQTT ingest: the agent's discovery against ``mosquitto_sub`` draining the same load, in one run.

``python -m bench.mqtt_ingest [--messages 20000] [--devices 200]``: a Mosquitto on loopback, a publisher process
sending Tasmota ``tele/<device>/STATE`` messages as fast as it can; first ``mosquitto_sub`` counts them (the
baseline), then the agent's MQTT discovery parses them into its inventory. Prints messages/s for both, the
ratio, messages lost, and the agent process's RSS afterwards (targets: >= 10,000 msg/s, >= 0.3 x mosquitto_sub,
0 lost, RSS <= 80 MB); and the CPU each spent per message (the publisher, a Python process, sets the pace of
both, so the rates follow it; the CPU per message is what the receiving side itself costs). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil

from agent.clock import Clock
from agent.config import AgentConfig
from agent.discovery.mqtt import MqttDiscovery
from agent.evidence import MemorySink
from agent.inventory import InventoryStore
from lab.mosquitto import Mosquitto


def publish(port: int, messages: int, devices: int) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher", clean_session=True)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    for index in range(messages):
        state = {
            "UptimeSec": 1000 + index // devices,
            "Wifi": {"Signal": -60 - index % 20, "LinkCount": 1},
            "POWER": "ON",
        }
        client.publish(f"tele/dev-{index % devices:04d}/STATE", json.dumps(state), qos=1)
    while client.want_write() or len(client._out_messages):
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()


def _publisher(port: int, messages: int, devices: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.mqtt_ingest",
            "--publish",
            str(port),
            "--messages",
            str(messages),
            "--devices",
            str(devices),
        ]
    )


def baseline(broker: Mosquitto, messages: int, devices: int) -> tuple[float, int, float]:
    """mosquitto_sub's messages/s, messages lost and CPU seconds per message."""
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-t",
            "tele/+/STATE",
            "-q",
            "1",
            "-C",
            str(messages),
            "-W",
            "60",
        ],
        stdout=subprocess.PIPE,
    )
    time.sleep(0.5)
    started = time.perf_counter()
    publisher = _publisher(broker.port, messages, devices)
    assert sub.stdout is not None
    received = sum(1 for _ in sub.stdout)
    elapsed = time.perf_counter() - started
    _pid, status, usage = os.wait4(sub.pid, 0)  # its CPU time, which only the reaping reports
    sub.returncode = os.waitstatus_to_exitcode(status)
    publisher.wait()
    return received / elapsed, messages - received, (usage.ru_utime + usage.ru_stime) / max(received, 1)


async def agent(broker: Mosquitto, messages: int, devices: int, state: Path) -> tuple[float, int, float, int, float]:
    """The agent's messages/s, messages lost, RSS MB, devices in its inventory and CPU seconds per message."""
    config = AgentConfig.model_validate({"state_dir": str(state), "broker": {"url": broker.url}})
    store = InventoryStore(None)
    async with MqttDiscovery(config, MemorySink(), store, Clock()) as discovery:
        await asyncio.wait_for(discovery.connected.wait(), 10)
        await asyncio.sleep(0.5)
        started, cpu_started = time.perf_counter(), time.process_time()
        publisher = _publisher(broker.port, messages, devices)
        last, stalled_since = -1, time.perf_counter()
        while discovery.session.received < messages and time.perf_counter() - stalled_since < 5:
            await asyncio.sleep(0.01)
            if discovery.session.received != last:
                last, stalled_since = discovery.session.received, time.perf_counter()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        await asyncio.to_thread(publisher.wait)
        received = discovery.session.received
    rss_mb = psutil.Process().memory_info().rss / 1e6
    return received / elapsed, messages - received, rss_mb, len(store), cpu / max(received, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--publish", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        publish(args.publish, args.messages, args.devices)
        return
    broker = Mosquitto(extra_config="max_inflight_messages 0\nmax_queued_messages 0\n")
    broker.start()
    try:
        base_rate, base_lost, base_cpu = baseline(broker, args.messages, args.devices)
        with tempfile.TemporaryDirectory() as state:
            rate, lost, rss_mb, devices, cpu = asyncio.run(agent(broker, args.messages, args.devices, Path(state)))
    finally:
        broker.close()
    print(f"{args.messages} STATE messages from {args.devices} devices")
    print(f"mosquitto_sub : {base_rate:8.0f} msg/s  lost {base_lost}")
    print(f"agent         : {rate:8.0f} msg/s  lost {lost}  devices {devices}  RSS {rss_mb:.1f} MB")
    print(f"ratio         : {rate / base_rate:.2f} (targets: >= 10000 msg/s, >= 0.3, 0 lost, RSS <= 80 MB)")
    print(
        f"CPU a message : agent {cpu * 1e6:.1f} µs (reading, parsing, merging), mosquitto_sub {base_cpu * 1e6:.1f} µs"
        f" = {cpu / base_cpu:.1f} ×"
    )


if __name__ == "__main__":
    main()
