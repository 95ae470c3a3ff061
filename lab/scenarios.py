"""Diagnosis scenarios in the network-namespace home: a real fault, then the diagnosis it leads to.

Three runs share the work, each in its own home. ``bundle_scenarios``: network, broker and device faults one
after the other; each fault's bundle, as delivered to the collector, is diagnosed the way
``homediag-agent diagnose --from-bundle`` does. ``live_scenarios``: the one-click diagnosis in the hub
(``homediag-agent diagnose --json``) on a healthy home, after a clock step, and after router reboots at the same
time on three "days" (the hub's clock stepped a day between them: the curtain case). ``hub_scenarios``: the
hub's own troubles and the quieter device ones, from the least serious up, so each is the worst thing in the
home when it is asked about: a hub reboot, a weak Wi-Fi signal, a device restart, a known firmware issue, the
hub's cable pulled, a hub power loss. Each yields ``Outcome``s; ``tests/scenarios`` asserts them and
``python -m bench.scenarios`` prints the accuracy.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from shared.models import EventKind, EventState, Inventory, TimelineEvent, utcnow
from shared.profiles import load_profiles

from .agent_process import AGENT, AgentProcess, wait_for
from .faults import Fault
from .home import DeviceSpec, LabHome
from .moments import InjectedFault, Recording

DEVICES = [DeviceSpec("plug", "tasmota", 2.0), DeviceSpec("relay", "shelly", 2.0), DeviceSpec("node", "esphome", 2.0)]
ONLINE = 3
# A restart's bundle waits this long for the restarts of a crash loop: short in the lab, so scenarios finish.
CRASH_LOOP_WINDOW_S = 40.0


@dataclass(frozen=True)
class Outcome:
    scenario: str
    expected: str
    verdict: str
    seconds: float  # wall time of the diagnosis itself

    @property
    def correct(self) -> bool:
        return self.expected == self.verdict


def _diagnose_bundle(agent: AgentProcess, signature: str) -> tuple[str, float]:
    from agent.diagnosis import diagnose, fault_focus

    bundle = agent.bundle(agent.wait_bundle(signature, timeout=CRASH_LOOP_WINDOW_S + 60))
    inventory = (
        Inventory.model_validate_json(bundle.files["inventory.json"])
        if "inventory.json" in bundle.files
        else Inventory(generated_at=bundle.manifest.created_at)
    )
    started = time.perf_counter()
    timeline = bundle.timeline()
    report = diagnose(
        timeline,
        inventory,
        {},
        load_profiles(),
        bundle.manifest.window.end,
        focus=fault_focus(timeline, bundle.manifest.trigger.signature),
    )
    return report.verdict.value, time.perf_counter() - started


def bundle_scenarios(lab: LabHome, agent: AgentProcess) -> Iterator[Outcome]:
    faults = lab.faults
    run = partial(run_bundle, agent)
    faults.device_power_off("plug")
    opened = _wait_fault(agent, "device_offline:", 30, state=EventState.OPENED)
    time.sleep(35)  # off for longer than a restart takes: back after this, it was off, not restarting
    faults.device_power_on("plug")
    yield run("device power-off", "device_offline", str(opened.detail["signature"]) if opened else "device_offline")
    faults.device_crash_loop("node", restarts=3, interval_s=8).wait(90)
    crash = _wait_fault(agent, "device_crash_loop:", 40)
    yield run(
        "device crash loop", "device_crash_loop", str(crash.detail["signature"]) if crash else "device_crash_loop"
    )
    time.sleep(25)  # devices' wills after the crash loop settle before the network faults
    faults.wan_outage(6).wait(30)
    yield run("WAN outage", "wan_outage", "wan_outage")
    faults.dns_failure(6).wait(30)
    yield run("DNS failure", "dns_failure", "dns_failure")
    faults.broker_crash(6).wait(30)
    yield run("broker crash", "broker_down", "broker_down")
    faults.router_reboot(10).wait(40)
    yield run("router reboot", "router_reboot", "router_reboot")


def _wait_fault(
    agent: AgentProcess, prefix: str, timeout: float, *, state: str = EventState.CLOSED, after: datetime | None = None
) -> TimelineEvent | None:
    return agent.wait_event(
        lambda e: (
            e.kind is EventKind.FAULT
            and e.state == state
            and (after is None or e.ts > after)
            and str(e.detail.get("signature", "")).startswith(prefix)
        ),
        timeout,
    )


def _live_verdict(lab: LabHome, agent: AgentProcess) -> tuple[str, float]:
    started = time.perf_counter()
    done = lab.run(
        lab.hub_ns, [AGENT, "-c", str(agent.config_path), "diagnose", "--json"], timeout=60, env=lab.hub_env()
    )
    seconds = time.perf_counter() - started
    return json.loads(done.stdout)["verdict"], seconds


def live_scenarios(lab: LabHome, agent: AgentProcess) -> Iterator[Outcome]:
    verdict, seconds = _live_verdict(lab, agent)
    yield Outcome("healthy home", "healthy", verdict, seconds)
    lab.faults.hub_clock_step(-3 * 3600)
    agent.wait_event(lambda e: e.kind is EventKind.CLOCK_JUMP, 20)
    verdict, seconds = _live_verdict(lab, agent)
    yield Outcome("hub clock stepped back 3 h", "clock_jump", verdict, seconds)
    for day in range(3):
        lab.faults.router_reboot(6).wait(30)
        agent.wait_event(
            lambda e: e.kind is EventKind.FAULT and e.state is EventState.CLOSED and bool(e.detail.get("down")), 30
        )
        time.sleep(2)
        if day < 2:
            lab.faults.hub_clock_step(86400)  # the next "night"
            time.sleep(2)
    verdict, seconds = _live_verdict(lab, agent)
    yield Outcome("router reboots at the same time on three days", "router_scheduled_reboot", verdict, seconds)

    # Last in this home: it ranks above the scheduled reboots, so it would mask their verdict.
    lab.faults.broker_login_required()
    try:
        agent.wait_event(lambda e: e.kind is EventKind.BROKER and e.state is EventState.REFUSED, 30)
        yield Outcome("broker no longer lets the hub in", "broker_refused", *_live_verdict(lab, agent))
    finally:
        lab.faults.broker_login_dropped()

    # The moments customers press the button: while the broker is down, and in the seconds after it is back
    # (the recorder still holds the outage open): never "healthy".
    time.sleep(15)  # a fault of its own, not the refusal's end
    crash = lab.faults.broker_crash(8)
    time.sleep(3)
    yield Outcome("one click while the broker is down", "broker_down", *_live_verdict(lab, agent))
    crash.wait(30)
    yield Outcome("one click right after the broker is back", "broker_down", *_live_verdict(lab, agent))


def _reboot_hub(agent: AgentProcess, power_loss: bool) -> None:
    rebooted = utcnow()
    agent.reboot_hub(power_loss=power_loss)
    agent.wait_event(lambda e: e.kind is EventKind.HUB_BOOT and e.ts >= rebooted - timedelta(seconds=5), 30)
    agent.wait_ready(ONLINE, since=rebooted)


def hub_scenarios(lab: LabHome, agent: AgentProcess) -> Iterator[Outcome]:
    faults = lab.faults
    faults.hub_disk_full()  # first: it ranks below every other cause, so later verdicts are not masked by it
    try:
        yield Outcome("hub's storage full", "hub_degraded", *_live_verdict(lab, agent))
    finally:
        faults.hub_disk_freed()
    _reboot_hub(agent, power_loss=False)
    yield Outcome("hub rebooted", "hub_reboot", *_live_verdict(lab, agent))

    faults.device_weak_signal("relay")
    agent.wait_event(lambda e: e.kind is EventKind.WIFI_SIGNAL and e.state is EventState.WEAK, 20)
    yield Outcome("weak Wi-Fi signal at a device", "wifi_weak_signal", *_live_verdict(lab, agent))

    def crash(name: str, expected: str, scenario: str, reason: str | None = None) -> Outcome:
        since = utcnow()
        faults.device_crash_loop(name, restarts=1, interval_s=0, restart_reason=reason).wait(30)
        closed = _wait_fault(agent, "device_reboot:", 40, after=since)
        verdict, seconds = _diagnose_bundle(agent, str(closed.detail["signature"])) if closed else ("no bundle", 0.0)
        return Outcome(scenario, expected, verdict, seconds)

    yield crash("plug", "device_reboot", "device restarts once")
    yield crash("node", "firmware_known_issue", "device resets on a brownout (ESPHome profile)", "Brownout Reset")

    faults.hub_unplugged(6).wait(30)
    yield run_bundle(agent, "hub's cable pulled", "hub_link_down", "hub_link_down")

    _reboot_hub(agent, power_loss=True)
    yield Outcome("hub lost power", "hub_power_loss", *_live_verdict(lab, agent))


def run_bundle(agent: AgentProcess, name: str, expected: str, signature: str) -> Outcome:
    verdict, seconds = _diagnose_bundle(agent, signature)
    return Outcome(name, expected, verdict, seconds)


def new_home(lab_factory, tmp: Path) -> tuple[LabHome, AgentProcess]:  # type: ignore[no-untyped-def]
    """A home with three devices and an enrolled, running agent whose collector is in the internet namespace."""
    lab = lab_factory(devices=DEVICES, upnp=True)
    lab.start_broker()
    agent = AgentProcess.create(
        lab,
        tmp,
        after_s=3.0,
        group_window_s=30.0,
        state_dir=lab.hub_disk() / "agent",
        extra={"capture": {"crash_loop_window_s": CRASH_LOOP_WINDOW_S}},
    )
    agent.start()
    agent.wait_ready(ONLINE)
    return lab, agent


# -- the one click at any moment ---------------------------------------------------------------------------------
QUIET_BETWEEN_S = 35.0  # longer than the diagnosis's episode gap: each fault is asked about on its own


def moment_scenarios(lab: LabHome, agent: AgentProcess, rng: random.Random) -> Recording:
    """Every fault kind once, each followed by a quiet spell, with real one-clicks during some and in the three
    seconds after each network fault (at moments drawn from ``rng``); returns what the agent recorded."""
    faults = lab.faults
    injected: list[InjectedFault] = []
    real: list[dict[str, object]] = []

    def one_click(kind: str, phase: str, anchor: datetime) -> None:
        at = utcnow()
        verdict, _ = _live_verdict(lab, agent)
        real.append(
            {
                "fault": kind,
                "phase": phase,
                "at": at.isoformat(),
                "offset_s": (at - anchor).total_seconds(),
                "verdict": verdict,
            }
        )

    def click_during(kind: str, fault: Fault, window_s: tuple[float, float]) -> threading.Thread:
        def later() -> None:
            time.sleep(rng.uniform(*window_s))
            one_click(kind, "during", fault.started_at)

        thread = threading.Thread(target=later, name=f"click-during-{kind}")
        thread.start()
        return thread

    def settle(kind: str, fault: Fault, device: str | None = None, click_after: bool = True) -> None:
        if click_after:
            time.sleep(rng.uniform(0, 3))
            one_click(kind, "0-3 s after", fault.ended_at or utcnow())
        bundles = _fault_bundles_since(agent, fault.started_at, timeout=60)
        assert fault.ended_at is not None
        injected.append(InjectedFault(kind, fault.started_at, fault.ended_at, device, bundles))
        time.sleep(QUIET_BETWEEN_S)

    def device_of(fault: Fault) -> str | None:
        went = agent.wait_event(
            lambda e: (
                e.kind is EventKind.DEVICE_AVAILABILITY
                and e.state is EventState.OFFLINE
                and e.ts >= fault.started_at - timedelta(seconds=1)
            ),
            20,
        )
        return went.device_id if went else None

    # The brownout's device of its own: the crash-looping node's restarts would count with it.
    lab.add_device(DeviceSpec("esp2", "esphome", 2.0))
    agent.wait_ready(ONLINE + 1)
    time.sleep(QUIET_BETWEEN_S)  # the home settles after the agent's start
    off = faults.device_power_off("plug")
    during = click_during("device_power_off", off, (5, 25))
    time.sleep(35)
    faults.device_power_on("plug")
    during.join()
    settle("device_power_off", off, device_of(off), click_after=False)

    restart = faults.device_crash_loop("plug", restarts=1, interval_s=0).wait(30)
    settle("device_restart", restart, device_of(restart), click_after=False)
    loop = faults.device_crash_loop("node", restarts=3, interval_s=8)
    loop.wait(90)
    settle("device_crash_loop", loop, device_of(loop))
    # Before the network faults: a device dropping within two minutes after one that cuts devices off is taken
    # as that fault's doing.
    brownout = faults.device_crash_loop("esp2", restarts=1, interval_s=0, restart_reason="Brownout Reset").wait(30)
    settle("device_brownout", brownout, device_of(brownout), click_after=False)

    for kind, inject, seconds in (
        ("wan_outage", faults.wan_outage, 10),
        ("dns_failure", faults.dns_failure, 10),
        ("broker_crash", faults.broker_crash, 10),
        ("router_reboot", faults.router_reboot, 12),
        ("hub_unplugged", faults.hub_unplugged, 10),
    ):
        fault = inject(seconds)
        during = click_during(kind, fault, (1.5, seconds - 2.5))
        fault.wait(60)
        settle(kind, fault)
        during.join()

    refused = faults.broker_login_required()
    agent.wait_event(lambda e: e.kind is EventKind.BROKER and e.state is EventState.REFUSED, 30)
    one_click("broker_login_required", "during", refused.started_at)
    time.sleep(3)
    faults.broker_login_dropped()
    settle("broker_login_required", refused)
    inventory_path = agent.state_dir / "inventory.json"
    inventory = (
        Inventory.model_validate_json(inventory_path.read_text())
        if inventory_path.exists()
        else Inventory(generated_at=utcnow())
    )
    return Recording(agent.events(), inventory, injected, real)


def _fault_bundles_since(agent: AgentProcess, since: datetime, timeout: float) -> datetime | None:
    """When the collector first held a fault bundle made after ``since`` (None if none came)."""

    def fresh() -> bool:
        return any(
            b["trigger"]["kind"] == "fault" and datetime.fromisoformat(b["created_at"]) >= since
            for b in agent.bundles()
        )

    return utcnow() if wait_for(fresh, timeout) else None
