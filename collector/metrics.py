"""Prometheus metrics on ``GET /metrics``: uploads by outcome, verification latency and queue depth, SLA warnings
and breaches, the notification outbox's depth, live request latency.

Each app has its own registry (tests run several apps in one process; a process-global registry would mix them).
Counters count what this process saw: with several replicas, sum them in Prometheus. The outbox depth is read
from the store at scrape time, so every replica reports the same shared figure.

The endpoint and who may scrape it are in ``api/metrics.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .support.events import EventKind

# Verification of a 64 KB bundle takes milliseconds; a backlog in the pool shows as seconds.
VERIFY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LIVE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class UploadOutcome(StrEnum):
    STORED = "stored"  # 201, a new bundle
    DUPLICATE = "duplicate"  # 201, the same capture sent again (stored, linked to the first)
    REPLAYED = "replayed"  # 200, a retry after a lost acknowledgement
    REFUSED = "refused"  # a 4xx/5xx with a stable code (label "code")
    FAILED = "failed"  # a bug or the client went away


class LiveOutcome(StrEnum):
    OK = "ok"
    AGENT_ERROR = "agent_error"  # the agent answered with an error
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"


class CollectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._uploads = Counter(
            "homediag_collector_uploads",
            "Bundle uploads answered, by outcome and error code",
            ["outcome", "code"],
            registry=self.registry,
        )
        self._verification = Histogram(
            "homediag_collector_verification_seconds",
            "Staging, verifying and storing one bundle (queueing for a worker included)",
            buckets=VERIFY_BUCKETS,
            registry=self.registry,
        )
        self._verifying = Gauge(
            "homediag_collector_verification_queue_depth",
            "Bundles handed to the verify workers and not finished (running or queued)",
            registry=self.registry,
        )
        self._sla = Counter(
            "homediag_collector_sla_events", "SLA warnings and breaches recorded", ["kind"], registry=self.registry
        )
        self._outbox = Gauge(
            "homediag_collector_outbox_pending_jobs",
            "Notification jobs (e-mail, webhooks) waiting to be sent or retried",
            registry=self.registry,
        )
        self._live = Histogram(
            "homediag_collector_live_request_seconds",
            "Live requests relayed to agents, by outcome",
            ["outcome"],
            buckets=LIVE_BUCKETS,
            registry=self.registry,
        )
        for kind in (EventKind.SLA_WARNING, EventKind.SLA_BREACHED):
            self._sla.labels(kind=kind.value)  # present at 0 before the first one

    def upload(self, outcome: UploadOutcome, code: str = "") -> None:
        self._uploads.labels(outcome=outcome.value, code=code).inc()

    @contextmanager
    def verifying(self) -> Iterator[None]:
        started = time.perf_counter()
        self._verifying.inc()
        try:
            yield
        finally:
            self._verifying.dec()
            self._verification.observe(time.perf_counter() - started)

    def sla_recorded(self, kind: EventKind, count: int = 1) -> None:
        self._sla.labels(kind=kind.value).inc(count)

    def live_request(self, outcome: LiveOutcome, seconds: float) -> None:
        self._live.labels(outcome=outcome.value).observe(seconds)

    def render(self, outbox_pending: int) -> bytes:
        self._outbox.set(outbox_pending)
        return generate_latest(self.registry)
