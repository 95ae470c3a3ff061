"""Bundles: upload (the signature authenticates the agent), list, download."""

from __future__ import annotations

import asyncio

from aiohttp import web

from shared.bundle import ReadLimits

from ..auth import check_household, household_filter, principal
from ..errors import CollectorError, Conflict, NotFound, PayloadTooLarge, RateLimited
from ..fleet import facts_of
from ..ingest import bundle_record, check_agent, peek_upload
from ..metrics import UploadOutcome
from ..models import BundleRecord
from ..state import BLOBS, CLOCK, CONFIG, DB, INGEST, LIMITER, METRICS, RECORDS
from ..store import Store
from .common import model_json

routes = web.RouteTableDef()

CHUNK = 64 * 1024


async def read_capped(request: web.Request, cap: int) -> bytes:
    """The body, streamed, refused with 413 as soon as it passes ``cap`` bytes."""
    if request.content_length is not None and request.content_length > cap:
        raise PayloadTooLarge(f"the bundle is {request.content_length} bytes; the limit is {cap}")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"the bundle exceeds the limit of {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _stored(record: BundleRecord, status: int) -> web.Response:
    return model_json(record, status=status)


@routes.post("/api/v1/bundles")
async def upload_bundle(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    try:
        response, outcome = await _upload(request)
    except CollectorError as exc:
        metrics.upload(UploadOutcome.REFUSED, exc.code)
        raise
    except BaseException:
        metrics.upload(UploadOutcome.FAILED)
        raise
    metrics.upload(outcome)
    return response


async def _upload(request: web.Request) -> tuple[web.Response, UploadOutcome]:
    app = request.app
    config, db = app[CONFIG], app[DB]
    limits = ReadLimits(
        max_archive_bytes=config.ingest.max_bundle_bytes, max_uncompressed_bytes=config.ingest.max_uncompressed_bytes
    )
    data = await read_capped(request, config.ingest.max_bundle_bytes)
    upload = peek_upload(data, limits)
    bundle_id = str(upload.claimed.bundle_id)
    records = app[RECORDS]
    existing, known_agent = await records.lookup(bundle_id, upload.claimed.agent_id)
    if existing is not None and existing.sha256 == upload.sha256():
        return _stored(existing, 200), UploadOutcome.REPLAYED  # a retry after a lost acknowledgement
    agent = check_agent(upload.claimed, known_agent)
    limiter = app[LIMITER]
    wait = await limiter.retry_after(agent.agent_id)
    if wait > 0:
        raise RateLimited(f"agent {agent.agent_id} uploads too fast", retry_after_s=wait)
    if existing is not None:
        # Decided before anything is written or verified, and counted: a hub re-sending cannot fill the disk.
        await limiter.consume(agent.agent_id)
        raise _conflict(bundle_id)
    with app[METRICS].verifying():
        verified = await app[INGEST].verify_and_store(upload, agent, limits)
    await limiter.consume(agent.agent_id)
    record = bundle_record(upload, verified, agent, app[CLOCK]())
    try:
        stored = await records.add(record, facts_of(record, verified.causes))
    except Conflict:
        # The same bundle id arrived concurrently: the first one won.
        winner = await db.run(Store.get_bundle, bundle_id)
        if winner is not None and winner.sha256 == record.sha256:
            return _stored(winner, 200), UploadOutcome.REPLAYED
        await asyncio.to_thread(app[BLOBS].discard, record.sha256)  # the loser's bytes: no record names them
        raise _conflict(bundle_id) from None
    if stored.duplicate_of is not None:  # the same fault sent twice adds nothing to the fleet's counts
        return _stored(stored, 201), UploadOutcome.DUPLICATE
    return _stored(stored, 201), UploadOutcome.STORED


def _conflict(bundle_id: str) -> Conflict:
    return Conflict(f"bundle {bundle_id} was stored before with different bytes", code="bundle_conflict")


@routes.get("/api/v1/bundles")
async def list_bundles(request: web.Request) -> web.Response:
    who = await principal(request)
    household = household_filter(who)
    if household is None:
        household = request.query.get("household")
    unattached = request.query.get("unattached") in ("1", "true")
    records = await request.app[DB].run(Store.list_bundles, household, unattached=unattached)
    return model_json({"bundles": [record.model_dump(mode="json") for record in records]})


async def _visible_bundle(request: web.Request) -> BundleRecord:
    who = await principal(request)
    record = await request.app[DB].run(Store.get_bundle, request.match_info["bundle_id"])
    if record is None:
        raise NotFound("no such bundle", code="bundle_not_found")
    check_household(who, record.household)
    return record


@routes.get("/api/v1/bundles/{bundle_id}")
async def download_bundle(request: web.Request) -> web.Response:
    record = await _visible_bundle(request)
    who = await principal(request)
    data = await asyncio.to_thread(request.app[BLOBS].get, record.sha256)
    await request.app[DB].run(
        Store.audit,
        who.name,
        "bundle.read",
        record.bundle_id,
        {"role": who.role.value, "ticket_id": record.ticket_id},
        request.app[CLOCK](),
    )
    return web.Response(
        body=data,
        content_type="application/vnd.homediag.bundle+gzip",
        headers={"Content-Disposition": f'attachment; filename="{record.bundle_id}.tar.gz"'},
    )


@routes.get("/api/v1/bundles/{bundle_id}/meta")
async def bundle_meta(request: web.Request) -> web.Response:
    return model_json(await _visible_bundle(request))
