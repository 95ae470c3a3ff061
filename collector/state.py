"""Typed application state: the ``AppKey``s every handler uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from .blobs import BlobStore
from .config import CollectorConfig
from .ingest import IngestWorkers
from .live_service import LiveService
from .ratelimit import Limiter
from .store import Database

Clock = Callable[[], datetime]

CONFIG = web.AppKey("config", CollectorConfig)
CLOCK = web.AppKey("clock", Clock)
MONOTONIC = web.AppKey("monotonic", Callable[[], float])
DB = web.AppKey("db", Database)
BLOBS = web.AppKey("blobs", BlobStore)
LIMITER = web.AppKey("limiter", Limiter)  # uploads per agent
INGEST = web.AppKey("ingest", IngestWorkers)
LIVE = web.AppKey("live", LiveService)  # absent when live state is not configured
SCANNER = web.AppKey("scanner", "SlaScanner")
LOGIN_THROTTLE = web.AppKey("login_throttle", "LoginThrottle")
OUTBOX = web.AppKey("outbox", "Outbox")
METRICS = web.AppKey("metrics", "CollectorMetrics")
