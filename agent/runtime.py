"""``homediag-agent run``: the long-running agent, wired from its parts.

``AgentRuntime`` is one async context manager that owns everything the agent runs: the flight recorder,
discovery, the connectivity and health monitors, the fault engine's clock, the outbox and, when the
collector granted it, the live channel. Leaving it stops them in reverse order and records a clean stop.

Its own loops run under a ``Supervisor``; what a crash leads to is chosen per loop:

- ``fault-clock`` and ``inventory-save`` restart (with backoff): they read state that outlives them (the fault
  engine, the inventory store), so a run that failed once loses a tick or a save, not fault capture itself.
- ``recorder-sync`` makes the agent exit non-zero (``fatal``; systemd restarts it): a recorder whose sync
  raised something it does not handle may hold a broken file or lock, and the flight recorder is the evidence
  every bundle is made of; a fresh process reads it back from disk.
- The loops of its parts (the outbox's uploader, the monitors, discovery's adapters, the live channel's session
  and workers) are owned and cancelled by their part and watched by the supervisor (``Supervisor.watch``): one
  that crashes makes the agent exit non-zero the same way, since its state is the part's own, so a dead uploader
  cannot leave bundles undelivered while the agent looks alive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Self

from shared.aio import OnCrash, Supervisor
from shared.models import (
    DiagnosisReport,
    EventKind,
    EventState,
    Inventory,
    RootCause,
    TimelineEvent,
    Trigger,
    TriggerKind,
)

from .capture import CaptureJournal, Capturer, finish_interrupted_captures
from .clock import Clock
from .collector_client import CollectorClient, collector_url
from .config import AgentConfig
from .discovery import Discovery
from .discovery.mqtt import STEADY_HAND_OFF_S
from .faults import Capture, FaultEngine
from .identity import Identity
from .inventory import InventoryStore
from .live import ConsentStore, LiveChannel
from .live_handlers import RuntimeLiveHandlers
from .monitors.connectivity import ConnectivityMonitor
from .monitors.health import HealthMonitor
from .monitors.link import ipv4_addresses
from .monitors.ssdp import SsdpListener
from .outbox import Outbox, Spool
from .page_on_visit import PageOnVisit
from .recorder import FlightRecorder, RecorderLogHandler

if TYPE_CHECKING:
    from shared.profiles import ProfileSet

    from .metrics import MetricsEndpoint

_LOGGER = logging.getLogger(__name__)

TICK_S = 0.5
SYNC_EVERY_S = 5.0
# The inventory is written when it changed (a device joined, went away, rebooted…), at most this often, and
# otherwise now and then for last_seen: a hub's flash is not written every few seconds.
INVENTORY_SAVE_EVERY_S = 30.0
INVENTORY_REFRESH_S = 600.0
URGENT_CAUSES = frozenset(
    {RootCause.ROUTER_REBOOT, RootCause.ROUTER_SCHEDULED_REBOOT, RootCause.HUB_LINK_DOWN, RootCause.BROKER_DOWN}
)


class AgentRuntime:
    def __init__(self, config: AgentConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.state_dir = config.state_dir
        self.identity: Identity | None = None
        self.recorder: FlightRecorder | None = None
        self.inventory: InventoryStore | None = None
        self.engine = FaultEngine(config.capture)
        self.outbox: Outbox | None = None
        self.capturer: Capturer | None = None
        self.page: PageOnVisit | None = None
        self.monitor: ConnectivityMonitor | None = None
        self.ssdp: SsdpListener | None = None
        self.live: LiveChannel | None = None
        self.metrics: MetricsEndpoint | None = None
        self.captured: list[tuple[str, str]] = []  # (signature, bundle id) in this run
        self.journal = CaptureJournal(self.state_dir / "captures.jsonl")
        self._stack = AsyncExitStack()
        self.supervisor = Supervisor(_LOGGER)
        self._profiles: ProfileSet | None = None
        self._profiles_lock = threading.Lock()  # two captures' worker threads may ask at once

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        config = self.config
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.identity = await asyncio.to_thread(Identity.load_or_create, self.state_dir)
        self.recorder = recorder = await asyncio.to_thread(FlightRecorder, self.state_dir / "recorder", config.recorder)
        self._stack.callback(recorder.close)
        handler = RecorderLogHandler(recorder, self.clock.now)
        logging.getLogger("agent").addHandler(handler)
        self._stack.callback(logging.getLogger("agent").removeHandler, handler)
        history = recorder.events(since=self.clock.now() - timedelta(seconds=max(config.capture.group_window_s, 3600)))
        # A capture the last run was killed in the middle of is finished, not made again: first, so that the
        # engine hears about it.
        try:
            await asyncio.to_thread(finish_interrupted_captures, Spool.from_config(config), self.journal)
        except OSError as exc:  # a full or read-only disk: they stay staged for the next start
            _LOGGER.warning("staged bundles not finished: %s", exc)
        self.engine.restore(history, await asyncio.to_thread(self.journal.last_captures))
        recorder.subscribe(self._on_event)
        self.inventory = await asyncio.to_thread(
            InventoryStore.open, self.state_dir / "inventory.json", max_devices=config.discovery.max_devices
        )
        self._stack.push_async_callback(asyncio.to_thread, self._final_inventory_save)
        recorder.event(
            TimelineEvent(ts=self.clock.now(), kind=EventKind.AGENT_START, source="agent", detail={"pid": os.getpid()})
        )
        self._stack.callback(
            lambda: recorder.event(TimelineEvent(ts=self.clock.now(), kind=EventKind.AGENT_STOP, source="agent"))
        )

        enrollment = self.identity.enrollment
        if enrollment is not None:
            client = await self._stack.enter_async_context(
                CollectorClient.from_config(config, collector_url(config, enrollment))
            )
            self.outbox = await self._stack.enter_async_context(Outbox.from_config(config, client))
            self.supervisor.watch(self.outbox)

            def fault_diagnosis(
                events: list[TimelineEvent], snapshot: Inventory | None, now: datetime, signature: str | None
            ) -> DiagnosisReport:
                """Runs in a worker thread; the capturer takes the inventory snapshot on the loop."""
                # Imported at the first fault: the diagnosis and its texts are not carried by a quiet hub.
                from .diagnosis import diagnose, fault_focus

                assert snapshot is not None  # the capturer is given the inventory store's snapshot
                logs = recorder.logs(since=events[0].ts if events else now)
                focus = fault_focus(events, signature)
                return diagnose(events, snapshot, {}, self.fault_profiles(), now, logs=logs, focus=focus)

            self.capturer = Capturer(
                config,
                self.identity,
                recorder,
                self.outbox,
                self.journal,
                inventory=self.inventory.snapshot,
                diagnose=fault_diagnosis,
            )
        else:
            _LOGGER.warning("not enrolled: faults are recorded but no bundle is made (homediag-agent enroll)")

        health = await self._stack.enter_async_context(
            HealthMonitor(
                self.state_dir,
                recorder,
                self.clock,
                check_every_s=config.probes.interval_s,
                sample_every_s=config.probes.health_interval_s,
            )
        )
        self.supervisor.watch(health)
        net = config.network
        if net.ssdp and net.gateway and net.interfaces:
            found = await asyncio.to_thread(ipv4_addresses, net.interfaces)
            addresses = [address for per_interface in found.values() for address in per_interface]
            self.ssdp = await self._stack.enter_async_context(
                SsdpListener(addresses, net.gateway, recorder, self.clock.now)
            )
            self.supervisor.watch(self.ssdp)
        self.monitor = await self._stack.enter_async_context(ConnectivityMonitor(config, recorder, self.clock))
        self.supervisor.watch(self.monitor)
        discovery = await self._stack.enter_async_context(
            Discovery(config, recorder, self.inventory, clock=self.clock, hand_off_s=STEADY_HAND_OFF_S)
        )
        self.supervisor.watch(discovery)
        if config.web.enabled:
            # The port now; the page's aiohttp server and templates (about 13 MB) at its first visitor.
            self.page = await self._stack.enter_async_context(PageOnVisit(config))

        if enrollment is not None and enrollment.live is not None:
            grant = enrollment.live
            if config.live.broker_url:
                grant = grant.model_copy(update={"broker_url": config.live.broker_url})
            consent = ConsentStore(self.state_dir, config.live.consent)
            self.live = await self._stack.enter_async_context(
                LiveChannel(
                    enrollment.agent_id, grant, RuntimeLiveHandlers(self), consent.current, ca_file=config.live.ca_file
                )
            )
            self.supervisor.watch(self.live)

        if config.metrics.enabled:
            from .metrics import MetricsEndpoint  # aiohttp and prometheus_client only for a hub that asks

            self.metrics = await self._stack.enter_async_context(MetricsEndpoint(self, config.metrics.port))

        self.supervisor.start("fault-clock", self._tick, OnCrash.RESTART)
        self.supervisor.start("recorder-sync", self._sync, OnCrash.EXIT)
        self.supervisor.start("inventory-save", self._save_inventory, OnCrash.RESTART)

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.supervisor.close()
        finally:
            await self._stack.aclose()

    # -- faults -----------------------------------------------------------------------------------------------
    def _on_event(self, event: TimelineEvent) -> None:
        assert self.recorder is not None
        for fault_event in self.engine.observe(event):
            self.recorder.event(fault_event)
        if (
            event.kind in (EventKind.INTERNET, EventKind.HUB_LINK, EventKind.GATEWAY)
            and event.state is EventState.UP
            and self.outbox
        ):
            self.outbox.wake()  # the way out may be back: do not wait out the backoff
        if (
            event.kind is EventKind.GATEWAY
            and event.state is EventState.UP
            and self.engine.network_troubled
            and self.ssdp
        ):
            self.ssdp.recheck()  # did the router reboot, or was it the hub's own link?

    def fault_profiles(self) -> ProfileSet:
        """The firmware profiles, read at the first fault rather than at start (a quiet hub does not carry them).
        Blocking: called from the capture's worker thread.

        A knowledge base that cannot be read or is broken costs the diagnosis its device-specific knowledge, not
        the fault its bundle: the fault is diagnosed without profiles and the error is logged (into the
        recorder's log ring, so the bundle shows why).
        """
        from shared.profiles import ProfileError, ProfileSet, load_profiles

        with self._profiles_lock:
            if self._profiles is None:
                try:
                    self._profiles = load_profiles(self.config.firmware_profiles)
                except (ProfileError, OSError) as exc:
                    _LOGGER.error("firmware profiles not read, faults are diagnosed without them: %s", exc)
                    self._profiles = ProfileSet(())
            return self._profiles

    async def _tick(self) -> None:
        assert self.recorder is not None
        while True:
            await asyncio.sleep(TICK_S)
            now = self.clock.now()
            for fault_event in self.engine.expire(now):
                self.recorder.event(fault_event)
            for capture in self.engine.tick(now):
                await self._capture_fault(capture)

    async def _capture_fault(self, capture: Capture) -> None:
        if self.capturer is None:
            _LOGGER.warning("fault %s not bundled: the agent is not enrolled", capture.signature)
            return
        trigger = Trigger(
            kind=TriggerKind.FAULT,
            signature=capture.signature,
            urgent=capture.root_cause in URGENT_CAUSES,
            summary=f"{capture.root_cause.value} x{capture.occurrences}",
        )
        try:
            bundle_id = await self.capturer.capture_fault(trigger, capture.start, capture.end, self.clock.now())
        except Exception:
            _LOGGER.exception("capture of %s failed", capture.signature)
            return
        self.captured.append((capture.signature, bundle_id))

    async def capture_now(self, trigger: Trigger, minutes_before: float = 10.0) -> str:
        """A bundle of the last minutes, for an engineer's request or a self-diagnosis."""
        if self.capturer is None:
            raise RuntimeError("the agent is not enrolled")
        now = self.clock.now()
        return await self.capturer.capture(trigger, now - timedelta(minutes=minutes_before), now)

    async def _sync(self) -> None:
        assert self.recorder is not None
        while True:
            await asyncio.sleep(SYNC_EVERY_S)
            await asyncio.to_thread(self.recorder.sync)

    async def _save_inventory(self) -> None:
        assert self.inventory is not None
        saved, since_save = self.inventory.revision, 0.0
        while True:
            await asyncio.sleep(INVENTORY_SAVE_EVERY_S)
            since_save += INVENTORY_SAVE_EVERY_S
            if self.inventory.revision == saved and since_save < INVENTORY_REFRESH_S:
                continue
            revision = self.inventory.revision
            try:
                await asyncio.to_thread(self.inventory.save, self.inventory.snapshot())
            except OSError as exc:  # a full disk must not stop the agent; the next round tries again
                _LOGGER.warning("inventory not saved: %s", exc)
                continue
            saved, since_save = revision, 0.0

    def _final_inventory_save(self) -> None:
        assert self.inventory is not None
        try:
            self.inventory.save()
        except OSError as exc:  # a full disk at shutdown: the file keeps its last saved state
            _LOGGER.warning("inventory not saved at shutdown: %s", exc)

    def inventory_snapshot(self) -> Inventory:
        assert self.inventory is not None
        return self.inventory.snapshot()
