"""Hub health: psutil figures sampled into the timeline, the hub's own boots, and clock jumps.

``boot_event`` decides, from the boot time the agent remembered and whether the agent's last run ended
cleanly, whether the hub rebooted (clean) or lost power (no clean stop recorded). The same loop looks for
clock jumps (``clock.ClockWatch``) every ``check_every_s`` and samples health every ``sample_every_s``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import psutil

from shared.aio import cancel_and_wait, started
from shared.atomic_file import write_atomically
from shared.models import EventKind, EventState, TimelineEvent

from ..clock import Clock
from ..evidence import EvidenceSink
from .clock import ClockWatch

_LOGGER = logging.getLogger(__name__)


def sample_health(disk_path: Path) -> dict[str, Any]:
    """One sample: CPU, memory, disk, temperatures where present, interface error and drop counters."""
    memory = psutil.virtual_memory()
    figures: dict[str, Any] = {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "memory_percent": memory.percent,
        "disk_percent": psutil.disk_usage(str(disk_path)).percent,
        "load_1m": psutil.getloadavg()[0],
    }
    # Not every platform has sensors (psutil leaves the function out there).
    temperatures: dict[str, list[Any]] = getattr(psutil, "sensors_temperatures", dict)() or {}
    readings = [entry.current for entries in temperatures.values() for entry in entries if entry.current]
    if readings:
        figures["temperature_max_c"] = max(readings)
    errors = {
        name: counters.errin + counters.errout + counters.dropin + counters.dropout
        for name, counters in psutil.net_io_counters(pernic=True).items()
    }
    figures["interface_errors"] = {name: count for name, count in errors.items() if count}
    return figures


def degraded(figures: dict[str, Any]) -> list[str]:
    reasons = []
    if figures.get("memory_percent", 0) > 90:
        reasons.append("memory")
    if figures.get("disk_percent", 0) > 95:
        reasons.append("disk")
    if figures.get("temperature_max_c", 0) > 80:
        reasons.append("temperature")
    return reasons


def health_event(state_dir: Path, now: Callable[[], datetime]) -> TimelineEvent:
    """A HUB_HEALTH sample now: ``degraded`` with its reasons, or ``ok``. Blocking (psutil reads /proc and the disk)."""
    figures = sample_health(state_dir)
    reasons = degraded(figures)
    return TimelineEvent(
        ts=now(),
        kind=EventKind.HUB_HEALTH,
        state=EventState.DEGRADED if reasons else EventState.OK,
        source="monitor.health",
        detail=figures | {"reasons": reasons},
    )


def boot_event(boot_time: float, remembered: dict[str, Any] | None, at: datetime) -> TimelineEvent | None:
    """A HUB_BOOT event when the hub booted since the agent last ran; None on the first run or the same boot."""
    if remembered is None or abs(remembered.get("boot_time", 0) - boot_time) < 2:
        return None
    clean = bool(remembered.get("clean_stop"))
    return TimelineEvent(
        ts=datetime.fromtimestamp(boot_time, UTC),
        kind=EventKind.HUB_BOOT,
        state=EventState.REBOOT if clean else EventState.POWER_LOSS,
        source="monitor.health",
        detail={
            "previous_boot": remembered.get("boot_time"),
            "agent_stopped_cleanly": clean,
            "noticed_at": at.isoformat(),
        },
    )


class HealthMonitor:
    """Owns the health/clock loop and the boot record (``<state_dir>/hub-boot.json``)."""

    def __init__(
        self, state_dir: Path, sink: EvidenceSink, clock: Clock, *, check_every_s: float, sample_every_s: float
    ) -> None:
        self._record = state_dir / "hub-boot.json"
        self._state_dir = state_dir
        self._sink = sink
        self._clock = clock
        self._check_every = check_every_s
        self._sample_every = sample_every_s
        self._task: asyncio.Task[None] | None = None

    def _remember(self, clean_stop: bool) -> None:
        try:
            write_atomically(
                self._record, json.dumps({"boot_time": psutil.boot_time(), "clean_stop": clean_stop}).encode()
            )
        except OSError as exc:  # a full disk must not stop the agent; the next boot is then told less precisely
            _LOGGER.warning("boot record %s not written: %s", self._record.name, exc)

    def _recall(self) -> dict[str, Any] | None:
        try:
            remembered = json.loads(self._record.read_text())
        except (OSError, ValueError):
            return None
        return remembered if isinstance(remembered, dict) else None

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return started(self._task)

    async def __aenter__(self) -> Self:
        remembered = await asyncio.to_thread(self._recall)
        event = boot_event(psutil.boot_time(), remembered, self._clock.now())
        if event is not None:
            self._sink.event(event)
        await asyncio.to_thread(self._remember, False)
        self._task = asyncio.create_task(self._run(), name="health-monitor")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)
        await asyncio.to_thread(self._remember, True)

    async def _run(self) -> None:
        watch = ClockWatch(self._clock)
        last_sample = float("-inf")
        while True:
            jump = watch.look()
            if jump is not None:
                self._sink.event(jump)
            if self._clock.monotonic() - last_sample >= self._sample_every:
                last_sample = self._clock.monotonic()
                self._sink.event(await asyncio.to_thread(health_event, self._state_dir, self._clock.now))
            await asyncio.sleep(self._check_every)
