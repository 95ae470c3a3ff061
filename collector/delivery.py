"""The durable outbox: every ticket event becomes jobs on channels (``email``, ``webhook``; helpdesk connectors
later register their own sender), delivered with retries and exponential backoff.

Durability lives in the store (``collector.store.outbox``): events are planned from a cursor in the same
transaction that records their jobs; a job is marked sent — and, when it reached the customer, recorded on the
ticket as ``notification_sent`` so the SLA clocks count it — in one transaction after the send. Delivery is
at least once: a crash between a send and its record resends it once, with the same Message-ID or
``X-Homediag-Delivery`` key, so the receiver can drop the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Self

import aiohttp

from shared.aio import cancel_and_wait

from .clock import Clock
from .config import CollectorConfig
from .notify.plan import EMAIL, WEBHOOK, planner
from .notify.senders import DeliveryFailed, EmailSender, Sender, WebhookSender
from .store import Database, Store
from .store.backends import Duty
from .store.outbox import due_jobs, job_failed, job_sent, plan_new_events

_LOGGER = logging.getLogger(__name__)


def backoff(attempts: int, base_s: float, cap_s: float) -> timedelta:
    """The wait before the next try after ``attempts`` failed ones: base, 2×base, 4×base… up to the cap."""
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, attempts - 1)))


class Outbox:
    """Owns the delivery task and the HTTP session of the webhook sender (an async context manager)."""

    def __init__(
        self, db: Database, config: CollectorConfig, clock: Clock, senders: Mapping[str, Sender] | None = None
    ) -> None:
        self._db, self._config, self._clock = db, config, clock
        self.senders: dict[str, Sender] = dict(senders or {})  # e.g. the helpdesk connectors' (collector.connectors)
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        self.senders[WEBHOOK] = WebhookSender(self._config.notify.webhooks, self._session)
        if self._config.notify.email is not None:
            self.senders[EMAIL] = EmailSender(self._config.notify.email)
        self._task = asyncio.create_task(self._run(), name="outbox")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)
        if self._session is not None:
            await self._session.close()

    def wake(self) -> None:
        """Look now rather than at the next poll (after a change that likely made jobs)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Plan what new events call for, then try every due job once; returns how many were sent. Only the
        replica holding the outbox duty sends: two senders would each send a due job."""
        if not await self._db.run(Store.try_lead, Duty.OUTBOX):
            return 0
        notify = self._config.notify
        while await self._db.run(plan_new_events, planner(self._config), self._clock()):
            pass
        sent = 0
        for job in await self._db.run(due_jobs, self._clock()):
            sender = self.senders.get(job.channel)
            try:
                if sender is None:
                    raise DeliveryFailed(f"no sender for channel '{job.channel}' is configured")
                recorded = await sender.send(job, self._clock())
            except DeliveryFailed as exc:
                attempts = job.attempts + (0 if exc.deferred else 1)
                wait = (
                    timedelta(0)  # nothing was sent: no backoff of its own, only the destination's wait below
                    if exc.deferred
                    else backoff(attempts, notify.backoff_s, notify.backoff_max_s)
                )
                if exc.retry_after_s is not None:  # the destination's rate limit: never sooner than it asked
                    wait = max(wait, timedelta(seconds=exc.retry_after_s))
                retry = None if exc.permanent or attempts >= notify.max_attempts else self._clock() + wait
                _LOGGER.warning("delivery %s failed (attempt %d): %s", job.key, attempts, exc)
                await self._db.run(job_failed, job, self._clock(), str(exc), retry, counted=not exc.deferred)
                continue
            await self._db.run(job_sent, job, self._clock(), recorded)
            sent += 1
        return sent

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                _LOGGER.exception("outbox pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.notify.poll_interval_s)
            self._wake.clear()
