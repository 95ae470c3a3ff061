"""Exactly once across crashes: real agents (``homediag-agent run`` and the CLI), a real collector, a real broker.

The agent is killed (``os._exit`` at a named step, ``agent.crashpoints``) at every step from a closed fault to
a delivered bundle, and restarted: the collector must hold one bundle per fault. Twenty ``bundle create
--upload`` processes share one spool, with the collector down then up: no spool write is lost and each says
truthfully what happened to its own bundle. An agent that lost its record of captures sends a fault again: the
collector links the second bundle to the first.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml

from agent.crashpoints import CRASH_ENV, CRASH_EXIT_CODE, CaptureStep
from lab.mosquitto import Mosquitto, free_port
from shared.models import EventKind, EventState, TimelineEvent
from tests.waiting import eventually

from .conftest import Stack

# Generous: six agents start at once on a shared 2-core machine.
SLOW_START_S = 90

pytestmark = pytest.mark.broker

FAULT = "broker_down"
PARALLEL = 20
SLOW_START_S = 90  # generous, because six agents start at once on a shared 2-core machine


def _state(config: Path) -> Path:
    return config.parent / "state"


def _running_agent_config(stack: Stack, name: str, mosquitto: Mosquitto) -> Path:
    """An enrolled agent watching only the test broker on loopback (no mDNS, ARP, probes or web page)."""
    config = stack.enrolled_agent(name)
    settings = yaml.safe_load(config.read_text())
    settings.update(
        {
            "broker": {"url": mosquitto.url, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
            "probes": {"interval_s": 0.2, "timeout_s": 0.5, "failures_before_down": 2},
            "discovery": {"mdns": False, "arp": False},
            "web": {"enabled": False},
            "capture": {"before_s": 30, "after_s": 1},
        }
    )
    config.write_text(yaml.safe_dump(settings))
    return config


def _events(config: Path) -> list[TimelineEvent]:
    try:
        lines = (_state(config) / "recorder" / "events.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [TimelineEvent.model_validate_json(line) for line in lines if line.strip()]


def _saw_broker(config: Path, state: EventState) -> bool:
    return any(e.kind is EventKind.BROKER and e.state is state for e in _events(config))


def _spool_leftovers(config: Path) -> list[str]:
    spool = _state(config) / "spool"
    return sorted(p.name for pattern in ("*.bundle", "*.staged", ".tmp-*") for p in spool.glob(pattern))


def _agent_id(config: Path) -> str:
    return json.loads((_state(config) / "identity" / "enrollment.json").read_text())["agent_id"]


def _collector_bundles(stack: Stack) -> list[dict]:
    status, body = stack.api("GET", f"/api/v1/bundles?household={stack.household}")
    assert status == 200, body
    return body["bundles"]


def _fault_bundles(stack: Stack, config: Path) -> list[str]:
    agent_id = _agent_id(config)
    return [
        b["bundle_id"]
        for b in _collector_bundles(stack)
        if b["agent_id"] == agent_id and b["trigger"]["signature"] == FAULT
    ]


def _recorded_captures(config: Path) -> list[str]:
    try:
        lines = (_state(config) / "captures.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line)["signature"] for line in lines]


async def _start_agent(stack: Stack, config: Path, crash_at: CaptureStep | None) -> asyncio.subprocess.Process:
    log = await asyncio.to_thread(open, config.parent / "agent.log", "ab")  # handed to the child, closed right after
    try:
        return await asyncio.create_subprocess_exec(
            *stack.agent_argv(config, "run"),
            stdout=log,
            stderr=log,
            env=stack.agent_env({CRASH_ENV: crash_at.value} if crash_at else None),
        )
    finally:
        log.close()


async def _stop(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        process.kill()
        return await process.wait()


async def test_an_agent_killed_at_any_step_of_a_capture_delivers_one_bundle_per_fault(
    stack: Stack, mosquitto: Mosquitto
) -> None:
    # One agent per kill point (and one never killed), all watching the same broker: one broker crash is a
    # broker_down fault for each, and each dies at its own step of the capture.
    kill_points: list[CaptureStep | None] = [None, *CaptureStep]
    configs = await asyncio.gather(
        *(asyncio.to_thread(_running_agent_config, stack, f"hub-{step or 'alive'}", mosquitto) for step in kill_points)
    )
    agents = [await _start_agent(stack, config, step) for config, step in zip(configs, kill_points, strict=True)]
    try:
        await eventually(
            lambda: all(_saw_broker(config, EventState.UP) for config in configs),
            what="broker connection in every agent",
            within=SLOW_START_S,
            blocking=True,
        )
        await asyncio.to_thread(mosquitto.kill)
        await eventually(
            lambda: all(_saw_broker(config, EventState.DOWN) for config in configs),
            what="broker_down in every agent",
            within=SLOW_START_S,
            blocking=True,
        )
        await asyncio.to_thread(mosquitto.start)

        for index, step in enumerate(kill_points):
            if step is None:
                continue
            code = await asyncio.wait_for(agents[index].wait(), 90)
            assert code == CRASH_EXIT_CODE, f"the agent to be killed at {step} exited {code}"
            agents[index] = await _start_agent(stack, configs[index], None)

        def settled() -> bool:
            return all(not _spool_leftovers(config) and _fault_bundles(stack, config) for config in configs)

        await eventually(
            settled, what="delivery with an empty spool for every agent", within=SLOW_START_S, blocking=True
        )
        await asyncio.sleep(2.0)  # four fault-clock ticks: a second capture of the same fault would start now
    finally:
        codes = [await _stop(agent) for agent in agents]
    assert codes == [0] * len(agents), codes

    per_fault = {
        str(step or "never killed"): len(_fault_bundles(stack, config))
        for step, config in zip(kill_points, configs, strict=True)
    }
    print(f"kill points: {len(CaptureStep)}; bundles per {FAULT} fault: {per_fault}")
    assert per_fault == dict.fromkeys(per_fault, 1)
    for config in configs:
        assert _spool_leftovers(config) == []
        assert _recorded_captures(config).count(FAULT) == 1, _recorded_captures(config)

    # Where the agent cannot know (its record of captures lost, as from an old backup) it captures the fault
    # again, with the same window: the collector links the second bundle to the first instead of a new finding.
    config = configs[0]
    (_state(config) / "captures.jsonl").unlink()
    again = await _start_agent(stack, config, None)
    try:
        await eventually(
            lambda: len(_fault_bundles(stack, config)) == 2,
            what="second bundle of the fault",
            within=SLOW_START_S,
            blocking=True,
        )
    finally:
        assert await _stop(again) == 0
    agent_id = _agent_id(config)
    first, second = sorted(
        (b for b in await asyncio.to_thread(_collector_bundles, stack) if b["agent_id"] == agent_id),
        key=lambda b: b["received_at"],
    )
    assert (first["duplicate_of"], second["duplicate_of"]) == (None, first["bundle_id"])


def _burst(
    stack: Stack, config: Path, count: int, *args: str, env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """``count`` processes started at once, each ``bundle create --upload``; bounded in time."""
    argv = stack.agent_argv(config, "bundle", "create", "--upload", *args)
    processes = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=stack.agent_env(env))
        for _ in range(count)
    ]
    done = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=120)
            done.append(subprocess.CompletedProcess(argv, process.returncode, stdout, stderr))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return done


def _own_bundle(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split("bundle ", 1)[1].split()[0]


def test_parallel_uploads_lose_no_write_and_say_who_delivered(stack: Stack) -> None:
    config = stack.enrolled_agent("hub")
    # Twenty at once while no collector answers: each start-up clean-up runs while others are writing.
    nowhere = {"HOMEDIAG_COLLECTOR__URL": f"http://127.0.0.1:{free_port()}"}
    queued = _burst(stack, config, PARALLEL, "--wait", "0.5", env=nowhere)
    queued_ids = {_own_bundle(done) for done in queued}
    # Each writer either tried the dead collector itself or found the spool's lock held by others past its wait.
    unexplained = [
        d.stdout + d.stderr
        for d in queued
        if "queued in the spool" not in d.stdout
        or not ("not reachable" in d.stdout or "other bundles were ahead of it" in d.stdout)
    ]
    assert not unexplained, unexplained
    spooled = _spool_leftovers(config)
    print(
        f"{PARALLEL} parallel writers: {len(queued_ids)} bundles, {len(spooled)} spooled, "
        f"{PARALLEL - len(spooled)} lost"
    )
    assert len(queued_ids) == PARALLEL
    assert len(spooled) == PARALLEL and all(name.endswith(".bundle") for name in spooled), spooled

    # The collector answers: a few more at once, each uploading the whole spool, each saying who delivered its own.
    delivered = _burst(stack, config, PARALLEL // 4, "--wait", "90")
    delivered_ids = {_own_bundle(done) for done in delivered}
    how = Counter(
        "by another"
        if "delivered by another" in done.stdout
        else "itself"
        if "delivered" in done.stdout
        else done.stdout
        for done in delivered
    )
    print(f"{len(delivered)} parallel uploaders of {len(queued_ids) + len(delivered_ids)} bundles: {dict(how)}")
    assert set(how) <= {"itself", "by another"}, how
    assert _spool_leftovers(config) == []
    on_collector = {b["bundle_id"] for b in _collector_bundles(stack)}
    assert on_collector == queued_ids | delivered_ids
