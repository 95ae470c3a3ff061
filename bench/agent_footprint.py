"""The agent's footprint on a hub: ``homediag-agent run`` in the lab home with many simulated devices.

``python -m bench.agent_footprint [--devices 200] [--seconds 60] [--report-interval 3] [--lab-config]``: builds a
lab home whose
device simulators report every ``report_interval`` seconds (a quarter of the devices behind one Zigbee2MQTT
bridge, the rest Tasmota, Shelly and ESPHome Wi-Fi devices, ``--count`` per family), runs the real agent in
the hub namespace with a collector in the internet namespace (with the agent's default one-click page on the hub's
loopback and mDNS discovery on the hub's interface, as a hub ships; ``--lab-config`` turns both off as the lab's
tests do), waits until every device is online, then samples
the agent process for ``seconds`` (the issue's figure is for ``--seconds 600``; the default is short). Prints RSS
(max and end), CPU % of one core over the steady run, timeline events and log lines recorded, and the build time
and size of a bundle over a 24 h capture: a flight recorder filled with 24 h of evidence at the measured rates
(at least a busy day's: each device offline and back twice an hour, plus the per-minute health samples; capped
by the recorder's caps), bundled with the agent's own enrolled identity; and the wall time of the customer's one
click (``homediag-agent diagnose --json``) in that home. The baseline in the same run is a bare interpreter
(``python -c pass``) in the same namespace: its RSS, and the wall time of starting it. Nothing is asserted.
Targets (issue 17): RSS ≤ 60 MB with 200 devices over 600 s, CPU ≤ 1 %, one click ≤ 3 s; bundle ≤ 1 s and ≤ 1 MB.
Needs root (network namespaces).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psutil

from agent.bundler import create_bundle
from agent.capture import evidence_files
from agent.config import load_config
from agent.identity import Identity
from agent.recorder import FlightRecorder
from lab.agent_process import AGENT, AgentProcess
from lab.home import DeviceSpec, LabHome
from shared.models import (
    CaptureWindow,
    EventKind,
    EventState,
    Inventory,
    LogLine,
    TimelineEvent,
    Trigger,
    TriggerKind,
    utcnow,
)

WIFI_FAMILIES = ("tasmota", "shelly", "esphome")
BARE = (
    "import os; print(int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE'))"  # resident bytes
)
DAY = timedelta(hours=24)


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return 0


def wait_settled(agent: AgentProcess, timeout: float, quiet_s: float = 20.0) -> int:
    """Wait until the number of devices seen online has not grown for ``quiet_s`` (at most ``timeout``)."""
    deadline = time.monotonic() + timeout
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(
            {
                e.device_id
                for e in agent.events()
                if e.kind is EventKind.DEVICE_AVAILABILITY and e.state is EventState.ONLINE
            }
        )
        if now != count:
            count, since = now, time.monotonic()
        elif count > 0 and time.monotonic() - since >= quiet_s:
            break
        time.sleep(1.0)
    return count


def sample(pid: int, seconds: float) -> tuple[float, float, float]:
    """(max RSS MB, end RSS MB, CPU % of one core) of ``pid`` over ``seconds``."""
    process = psutil.Process(pid)
    start_cpu = sum(process.cpu_times()[:2])
    started = time.monotonic()
    peak = 0
    rss = 0
    while (elapsed := time.monotonic() - started) < seconds:
        rss = process.memory_info().rss
        peak = max(peak, rss)
        time.sleep(min(1.0, seconds - elapsed))
    cpu = sum(process.cpu_times()[:2]) - start_cpu
    rss = process.memory_info().rss
    return max(peak, rss) / 2**20, rss / 2**20, 100 * cpu / (time.monotonic() - started)


def day_bundle(
    agent: AgentProcess, workdir: Path, devices: int, events_per_s: float, logs_per_s: float
) -> tuple[float, int, int]:
    """Build time (s), size (bytes) and event count of a bundle over 24 h of evidence at the measured rates."""
    config = load_config(agent.config_path)
    recorder = FlightRecorder(workdir / "day-recorder", config.recorder)
    end = utcnow()
    start = end - DAY
    busy_day = devices * 24 * 4 + 24 * 60
    n_events = min(config.recorder.max_events, max(busy_day, round(events_per_s * DAY.total_seconds())))
    n_logs = min(config.recorder.max_log_lines, round(logs_per_s * DAY.total_seconds()))
    step = DAY / n_events
    for i in range(n_events):
        recorder.event(
            TimelineEvent(
                ts=start + i * step,
                kind=EventKind.DEVICE_AVAILABILITY,
                state=EventState.ONLINE if i % 2 else EventState.OFFLINE,
                source="tasmota",
                device_id=f"tasmota-{i % devices:03d}",
                detail={"topic": f"tele/fp-{i % devices:03d}/LWT"},
            )
        )
    for i in range(n_logs):
        recorder.log(
            LogLine(
                ts=start + i * (DAY / max(n_logs, 1)),
                source="zigbee2mqtt",
                level="info",
                message=f"MQTT publish: topic 'zigbee2mqtt/fp-{i % devices:03d}', payload '{{\"state\":\"ON\"}}'",
            )
        )
    identity = Identity.load_or_create(config.state_dir)
    began = time.perf_counter()
    files = evidence_files(recorder.events(start, end), recorder.logs(start, end), None, None)
    _, data = create_bundle(
        config,
        identity,
        trigger=Trigger(kind=TriggerKind.FAULT, signature="bench"),
        window=CaptureWindow(start=start, end=end),
        extra_files=files,
    )
    elapsed = time.perf_counter() - began
    recorder.close()
    return elapsed, len(data), n_events


def bare_interpreter(lab: LabHome) -> tuple[float, float]:
    """(RSS MB, wall s) of ``python -c`` that reports its own RSS: the floor any Python agent starts from."""
    began = time.perf_counter()
    done = lab.run(lab.hub_ns, [sys.executable, "-c", BARE], timeout=60)
    elapsed = time.perf_counter() - began
    return int(done.stdout) / 2**20, elapsed


def one_click(lab: LabHome, agent: AgentProcess) -> tuple[float, int]:
    """Wall time of the customer's one click in this home, and how many devices its report knew."""
    began = time.perf_counter()
    done = lab.run(
        lab.hub_ns, [AGENT, "-c", str(agent.config_path), "diagnose", "--json"], timeout=120, env=lab.hub_env()
    )
    elapsed = time.perf_counter() - began
    known = len(Inventory.model_validate_json((agent.state_dir / "inventory.json").read_text()).devices)
    json.loads(done.stdout)  # a whole report came out
    return elapsed, known


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.agent_footprint")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured steady run (the issue's figure: 600)")
    parser.add_argument("--report-interval", type=float, default=3.0)
    parser.add_argument(
        "--settle-timeout", type=float, default=240.0, help="longest wait for the devices to come online"
    )
    parser.add_argument(
        "--lab-config",
        action="store_true",
        help="the one-click page and mDNS off, as the lab's tests run the agent (default: on, as shipped)",
    )
    args = parser.parse_args()
    zigbee = min(257, args.devices // 4)  # the bridge and its Zigbee devices
    wifi = args.devices - zigbee
    per_family = [wifi // len(WIFI_FAMILIES) + (i < wifi % len(WIFI_FAMILIES)) for i in range(len(WIFI_FAMILIES))]
    specs = [
        DeviceSpec(f"fp-{family}", family, args.report_interval, args=["--count", str(count), "--no-mdns"])
        for family, count in zip(WIFI_FAMILIES, per_family, strict=True)
        if count
    ]
    if zigbee:
        specs.append(
            DeviceSpec(
                "zigbee2mqtt",
                "zigbee2mqtt",
                args.report_interval,
                args=["--zigbee-devices", str(zigbee - 1), "--no-mdns"],
            )
        )
    with tempfile.TemporaryDirectory(prefix="homediag-footprint-") as tmp, LabHome(devices=specs, upnp=True) as lab:
        workdir = Path(tmp)
        lab.start_broker()
        shipped = (
            {}
            if args.lab_config
            else {"web": {"enabled": True, "host": "127.0.0.1", "port": 0}, "discovery": {"mdns": True}}
        )
        agent = AgentProcess.create(lab, workdir, probe_interval_s=2.0, extra=shipped)
        try:
            agent.start()
            online = wait_settled(agent, timeout=args.settle_timeout)
            assert agent.process is not None
            recorder = agent.state_dir / "recorder"
            events_before, logs_before = _count_lines(recorder / "events.jsonl"), _count_lines(recorder / "logs.jsonl")
            rss_max, rss_end, cpu = sample(agent.process.pid, args.seconds)
            events = _count_lines(recorder / "events.jsonl") - events_before
            logs = _count_lines(recorder / "logs.jsonl") - logs_before
            one_click_s, known = one_click(lab, agent)
            bare_rss, bare_s = bare_interpreter(lab)
        finally:
            agent.close()
        build_s, size, day_events = day_bundle(agent, workdir, args.devices, events / args.seconds, logs / args.seconds)
    print(
        f"devices: {args.devices} simulated ({online} seen online by the agent), reporting every "
        f"{args.report_interval:g} s; measured {args.seconds:g} s; one-click page and mDNS "
        f"{'off (--lab-config)' if args.lab_config else 'on (as shipped)'}"
    )
    print(
        f"RSS: max {rss_max:.1f} MB, end {rss_end:.1f} MB = {rss_max / bare_rss:.1f} × a bare interpreter's "
        f"{bare_rss:.1f} MB (target ≤ 60 MB)"
    )
    print(f"CPU: {cpu:.2f} % of one core (target ≤ 1 %)")
    print(f"recorded: {events} timeline events, {logs} log lines ({events / args.seconds:.2f} events/s)")
    print(
        f"one-click diagnose (homediag-agent diagnose --json, {known} devices in the inventory): {one_click_s:.2f} s "
        f"= {one_click_s / bare_s:.1f} × starting a bare interpreter ({bare_s:.2f} s) (target ≤ 3 s)"
    )
    print(
        f"24 h capture: {day_events} events, bundle built in {build_s:.3f} s, {size / 1024:.0f} KB "
        f"(targets ≤ 1 s, ≤ 1024 KB)"
    )


if __name__ == "__main__":
    main()
