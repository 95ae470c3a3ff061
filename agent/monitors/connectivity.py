"""The connectivity monitor: runs the checks every interval and records their transitions in the timeline.

``step`` is the pure decision: a check goes down after ``failures_before_down`` consecutive failures (the
event carries the time of the *first* failure, so the timeline says when it really broke) and up at the first
success. The first observation of each check is recorded too, as the baseline. The hub's addresses are looked
at in the same round (``link.address_change``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Self

from shared.aio import cancel_and_wait, started
from shared.models import EventKind, EventState, TimelineEvent

from ..clock import Clock
from ..config import AgentConfig
from ..evidence import EvidenceSink
from .link import address_change, ipv4_addresses
from .probes import CheckResult, run_checks

_LOGGER = logging.getLogger(__name__)

EVENT_KINDS = {
    "hub_link": EventKind.HUB_LINK,
    "gateway": EventKind.GATEWAY,
    "dns": EventKind.DNS,
    "internet": EventKind.INTERNET,
    "broker": EventKind.BROKER,
}


@dataclass(frozen=True)
class CheckState:
    reported: bool | None = None  # what the timeline last said; None before the first report
    failures: int = 0
    first_failure: datetime | None = None


def step(
    state: CheckState, result: CheckResult, at: datetime, failures_before_down: int
) -> tuple[CheckState, TimelineEvent | None]:
    """Fold one check result into the state; an event when the reported state changes."""
    if result.ok is None:
        return state, None
    detail: dict[str, object] = {"detail": result.detail} | (
        {"latency_ms": round(result.latency_ms, 2)} if result.latency_ms is not None else {}
    )
    if result.ok:
        fresh = CheckState(reported=True)
        if state.reported is True:
            return fresh, None
        return fresh, _event(result.name, EventState.UP, at, detail)
    failures = state.failures + 1
    first = state.first_failure or at
    failing = replace(state, failures=failures, first_failure=first)
    if state.reported is False or (state.reported is True and failures < failures_before_down):
        return failing, None
    return replace(failing, reported=False), _event(
        result.name, EventState.DOWN, first, detail | {"failures": failures}
    )


def _event(name: str, state: EventState, at: datetime, detail: dict[str, object]) -> TimelineEvent:
    return TimelineEvent(ts=at, kind=EVENT_KINDS[name], state=state, source=f"monitor.{name}", detail=detail)


class ConnectivityMonitor:
    """Async context manager owning the probe loop."""

    def __init__(self, config: AgentConfig, sink: EvidenceSink, clock: Clock) -> None:
        self._config = config
        self._sink = sink
        self._clock = clock
        self.states: dict[str, CheckState] = {}
        self.last_results: list[CheckResult] = []
        self._addresses: dict[str, list[str]] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return started(self._task)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="connectivity-monitor")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        interval = self._config.probes.interval_s
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            at = self._clock.now()
            self.last_results = await run_checks(self._config)
            for result in self.last_results:
                state, event = step(
                    self.states.get(result.name, CheckState()), result, at, self._config.probes.failures_before_down
                )
                self.states[result.name] = state
                if event is not None:
                    self._sink.event(event)
            if self._config.network.interfaces:
                addresses = await asyncio.to_thread(ipv4_addresses, self._config.network.interfaces)
                change = address_change(self._addresses, addresses, at)
                if change is not None:
                    self._sink.event(change)
                self._addresses = addresses
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
