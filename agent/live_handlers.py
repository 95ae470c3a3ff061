"""The running agent's answers to live requests (the ``LiveHandlers`` of ``agent.live``)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any, Protocol

from shared.models import Inventory, Trigger, TriggerKind

from .clock import Clock
from .config import AgentConfig
from .inventory import InventoryStore
from .monitors.probes import run_checks
from .recorder import FlightRecorder


class RunningAgent(Protocol):
    """What the live answers read from the running agent (``agent.runtime.AgentRuntime``).

    A protocol rather than the class, because the runtime imports this module to build its handlers.
    """

    config: AgentConfig
    clock: Clock
    recorder: FlightRecorder | None
    inventory: InventoryStore | None

    def inventory_snapshot(self) -> Inventory: ...

    async def capture_now(self, trigger: Trigger, minutes_before: float = ...) -> str: ...


class RuntimeLiveHandlers:
    def __init__(self, runtime: RunningAgent) -> None:
        self._runtime = runtime

    async def inventory(self) -> Any:
        return self._runtime.inventory_snapshot().model_dump(mode="json")

    async def device_state(self, device_id: str) -> Any | None:
        store = self._runtime.inventory
        device = store.get(device_id) if store is not None else None
        if device is None:
            return None
        return {
            **device.model_dump(
                mode="json",
                include={
                    "id",
                    "name",
                    "family",
                    "model",
                    "firmware",
                    "available",
                    "last_seen",
                    "uptime_s",
                    "rssi_dbm",
                    "link_quality",
                    "restart_reason",
                    "ips",
                },
            ),
            "last_messages": store.recent_messages(device.id) if store is not None else [],
        }

    async def timeline_recent(self, minutes: float) -> Any:
        recorder = self._runtime.recorder
        assert recorder is not None
        since = self._runtime.clock.now() - timedelta(minutes=minutes)
        return {"events": [event.model_dump(mode="json") for event in recorder.events(since=since)]}

    async def probe_run(self) -> Any:
        return {"checks": [dataclasses.asdict(result) for result in await run_checks(self._runtime.config)]}

    async def diagnose(self) -> Any:
        runtime = self._runtime
        recorder = runtime.recorder
        assert recorder is not None
        now = runtime.clock.now()
        since = now - timedelta(days=7)
        inventory = runtime.inventory_snapshot()  # on the loop: the inventory store is the loop's
        checks = await run_checks(runtime.config)

        def seven_day_diagnosis() -> Any:
            """Reading the profiles and diagnosing a week of events take long enough to stall every other
            part of the agent: a worker thread does it (the recorder's rings are safe to read from one)."""
            from shared.profiles import load_profiles  # with the diagnosis: at the first request, not at start

            from .diagnosis import diagnose

            report = diagnose(
                recorder.events(since=since),
                inventory,
                {},
                load_profiles(runtime.config.firmware_profiles),
                now,
                checks,
                recorder.logs(since=since),
            )
            return report.model_dump(mode="json")

        return await asyncio.to_thread(seven_day_diagnosis)

    async def bundle_capture(self, requested_by: str | None) -> Any:
        trigger = Trigger(
            kind=TriggerKind.ENGINEER_REQUEST, summary=f"captured on request of {requested_by or 'support'}"
        )
        return {"bundle_id": await self._runtime.capture_now(trigger)}
