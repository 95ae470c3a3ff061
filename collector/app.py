"""The collector's aiohttp application: an app factory, typed app state, resources owned by ``cleanup_ctx``."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from time import monotonic

from aiohttp import web

from shared.models import utcnow

from . import fleet
from .api import ROUTE_TABLES
from .api.params import check_parameters, load_contract
from .blobs import open_blob_store
from .clock import Clock
from .config import CollectorConfig
from .connectors.plan import HELPDESK
from .connectors.sender import HelpdeskSender
from .delivery import Outbox
from .errors import CollectorError, RateLimited
from .forwarded import is_https
from .ingest import IngestRecords, IngestWorkers
from .live_service import LiveService
from .metrics import CollectorMetrics
from .ratelimit import Limiter, LocalLimiter, RateLimiter, whole_seconds
from .state import (
    BLOBS,
    CLOCK,
    CONFIG,
    DB,
    INGEST,
    LIMITER,
    LIVE,
    METRICS,
    MONOTONIC,
    OUTBOX,
    RECORDS,
    SCANNER,
)
from .store import Database
from .store.shared_limiter import SharedLimiter
from .support.scanner import SlaScanner
from .web import desk, load_templates, portal
from .web import routes as ui_routes
from .web.guard import LOGIN_THROTTLE, LoginThrottle
from .web.pages import html_errors

_LOGGER = logging.getLogger(__name__)

STAGED_LEFTOVER_S = 3600.0  # an upload is staged for seconds; an hour-old staged file is nobody's

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "bundle_too_large",
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except RateLimited as exc:
        return error_response(exc.status, exc.code, exc.message, {"Retry-After": str(whole_seconds(exc.retry_after_s))})
    except CollectorError as exc:
        if exc.status >= 500:
            _LOGGER.error("%s %s failed: %s", request.method, request.path, exc)
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, _STATUS_CODES.get(exc.status, "http_error"), exc.reason, allow)
    except ConnectionResetError:
        raise  # the client went away: nobody to answer
    except Exception:
        # A bug: the client gets an id to quote, the log gets the traceback under the same id.
        error_id = secrets.token_hex(8)
        _LOGGER.exception("%s %s failed (error id %s)", request.method, request.path, error_id)
        return error_response(500, "internal_error", f"internal error; quote error id {error_id}")


@web.middleware
async def contract_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """API parameters the OpenAPI document forbids never reach a handler."""
    if request.path.startswith("/api/"):
        check_parameters(request)
    return await handler(request)


async def _storage(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    config.data_dir.mkdir(parents=True, exist_ok=True)
    async with Database(config) as db:
        app[DB] = db
        _limiters(app, db)
        app[BLOBS] = blobs = await asyncio.to_thread(open_blob_store, config.blob_location)
        try:
            await asyncio.to_thread(blobs.check)
            # Replicas share the staging directory: only what no upload in flight can still own is a leftover.
            await asyncio.to_thread(blobs.discard_staged, 0.0 if config.database_url is None else STAGED_LEFTOVER_S)
            await fleet.backfill(db, blobs)  # bundles stored before the fleet index existed, read once
            async with (
                IngestWorkers(config.ingest.verify_workers, blobs) as workers,
                IngestRecords(db, config.tickets, app[CLOCK]) as records,
                SlaScanner(db, config, app[CLOCK], app[METRICS]) as scanner,
                HelpdeskSender(db, blobs, config, app[CLOCK]) as helpdesks,
                Outbox(db, config, app[CLOCK], {HELPDESK: helpdesks}) as outbox,
            ):
                app[INGEST] = workers
                app[RECORDS] = records
                app[SCANNER] = scanner
                app[OUTBOX] = outbox
                yield
        finally:
            await asyncio.to_thread(blobs.close)


def _read_once() -> None:
    load_contract()
    load_templates()


async def _preload(_app: web.Application) -> None:
    """The API contract and the page templates, read and built in a worker thread before the first request."""
    await asyncio.to_thread(_read_once)


def _limiters(app: web.Application, db: Database) -> None:
    """Rate limits in memory for one collector; in the database when replicas share one (PostgreSQL)."""
    config = app[CONFIG]

    def limiter(scope: str, burst: int, per_minute: float) -> Limiter:
        if config.database_url is None:
            return LocalLimiter(RateLimiter(burst=burst, per_minute=per_minute), app[MONOTONIC])
        return SharedLimiter(db, scope, burst=burst, per_minute=per_minute, clock=app[CLOCK])

    app[LIMITER] = limiter("upload", config.rate_limit.burst, config.rate_limit.per_minute)
    app[LOGIN_THROTTLE] = LoginThrottle(
        limiter("login-account", config.web.login_burst_per_account, config.web.login_per_minute_per_account),
        limiter("login-address", config.web.login_burst_per_address, config.web.login_per_minute_per_address),
    )


async def _live(app: web.Application) -> AsyncIterator[None]:
    if app[CONFIG].live.url is None:
        yield
        return
    # Built in a worker thread: it writes the broker's account files (fsync) before anything else runs.
    async with await asyncio.to_thread(LiveService, app[CONFIG]) as live:
        app[LIVE] = live
        yield


# No inline script or style anywhere (the UI's are files under /ui/static/); nobody may frame a page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer, errors and redirects included (``on_response_prepare`` sees them all)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if is_https(request, request.app[CONFIG].web):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def create_app(
    config: CollectorConfig, *, clock: Clock = utcnow, monotonic_clock: Callable[[], float] = monotonic
) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware, contract_middleware, html_errors], client_max_size=1024 * 1024
    )
    app.on_response_prepare.append(_security_headers)
    app[CONFIG] = config
    app[CLOCK] = clock
    app[MONOTONIC] = monotonic_clock
    app[METRICS] = CollectorMetrics()
    app.on_startup.append(_preload)
    app.cleanup_ctx.append(_storage)
    app.cleanup_ctx.append(_live)
    for table in ROUTE_TABLES:
        app.add_routes(table)
    for pages in (ui_routes, portal.routes, desk.routes):  # the order they were always matched in
        app.add_routes(pages)
    return app
