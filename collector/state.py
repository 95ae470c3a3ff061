"""Typed application state: the ``AppKey``s every handler uses."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from .blobs import BlobStore
from .clock import Clock
from .config import CollectorConfig
from .delivery import Outbox
from .ingest import IngestRecords, IngestWorkers
from .live_service import LiveService
from .metrics import CollectorMetrics
from .ratelimit import Limiter
from .store import Database
from .support.scanner import SlaScanner

CONFIG = web.AppKey("config", CollectorConfig)
# A callable's type is no class, so these two name their type as the key's parameter.
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
MONOTONIC: web.AppKey[Callable[[], float]] = web.AppKey("monotonic")
DB = web.AppKey("db", Database)
BLOBS = web.AppKey("blobs", BlobStore)
LIMITER = web.AppKey("limiter", Limiter)  # uploads per agent
INGEST = web.AppKey("ingest", IngestWorkers)
RECORDS = web.AppKey("records", IngestRecords)  # the store's side of ingest, batched
LIVE = web.AppKey("live", LiveService)  # absent when live state is not configured
SCANNER = web.AppKey("scanner", SlaScanner)
OUTBOX = web.AppKey("outbox", Outbox)
METRICS = web.AppKey("metrics", CollectorMetrics)
