"""The SLA scanner: finds warnings and breaches and records them when it sees them (never back-dated)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, Self

from shared.aio import cancel_and_wait

from ..clock import Clock
from ..config import CollectorConfig
from ..metrics import CollectorMetrics
from ..store import Database, Store
from ..store.backends import Duty
from .clocks import ClockState
from .events import EventKind
from .levels import ticket_clocks

_LOGGER = logging.getLogger(__name__)
ACTOR = "sla-scanner"


def scan_once(store: Store, config: CollectorConfig, now) -> Counter[EventKind]:  # type: ignore[no-untyped-def]
    """One pass (on the store's thread): every warning and breach not yet recorded, stamped now; how many of each.

    The clocks never produce a new breach on a resolved or closed ticket (its targets stopped), so neither
    does the scanner; follow-ups and complaints keep their own deadlines there."""
    recorded: Counter[EventKind] = Counter()
    for ticket in store.tickets_for_scan():
        seen = {
            (e.kind, e.data.get("target"), e.data.get("ref"), e.data.get("due"))
            for e in ticket.events
            if e.kind in (EventKind.SLA_WARNING, EventKind.SLA_BREACHED)
        }
        fresh: list[tuple[EventKind, dict[str, Any]]] = []
        for clock in ticket_clocks(config.support, ticket, now):
            kind = {ClockState.WARNING: EventKind.SLA_WARNING, ClockState.BREACHED: EventKind.SLA_BREACHED}.get(
                clock.state
            )
            if kind is None or (kind, clock.target, clock.ref, clock.due.isoformat()) in seen:
                continue
            fresh.append(
                (
                    kind,
                    {
                        "target": clock.target,
                        "ref": clock.ref,
                        "due": clock.due.isoformat(),
                        "priority": ticket.priority.value,
                    },
                )
            )
        if fresh:
            store.append_ticket_events(ticket.id, ACTOR, fresh, now)
            recorded.update(kind for kind, _ in fresh)
    return recorded


class SlaScanner:
    def __init__(self, db: Database, config: CollectorConfig, clock: Clock, metrics: CollectorMetrics) -> None:
        self._db, self._config, self._clock, self._metrics = db, config, clock, metrics
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="sla-scanner")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)

    async def scan(self) -> int:
        """One pass, on the replica that holds the scan duty (another replica's pass would record twice); how
        many warnings and breaches it recorded."""
        if not await self._db.run(Store.try_lead, Duty.SLA_SCAN):
            return 0
        recorded = await self._db.run(scan_once, self._config, self._clock())
        for kind, count in recorded.items():
            self._metrics.sla_recorded(kind, count)
        return recorded.total()

    async def _run(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:
                _LOGGER.exception("SLA scan failed")
            await asyncio.sleep(self._config.support.scan_interval_s)
