"""Bundle ingest: the checks an upload must pass, in the order that keeps the work cheap for bad input.

1. size cap while streaming (413, ``bundle_too_large``);
2. the claimed manifest, read from the archive's first member only (400, ``manifest_invalid`` / …);
3. same bundle id already stored with the same bytes: the stored record (200), a retry after a lost answer;
4. the claimed agent must be enrolled and not revoked (403, ``agent_unknown`` / ``agent_revoked``), its
   household must match the manifest (403, ``household_mismatch``);
5. per-agent rate limit (429 + Retry-After);
6. same bundle id already stored with other bytes: 409 ``bundle_conflict``, decided here, before anything is
   written, and counted against the agent's rate limit (a hub stuck re-sending cannot fill the disk);
7. the whole archive read safely (400 ``unsafe_archive`` …, 413 for bombs), then the DSSE signature against the
   enrolled key, then every member's hash (422, ``signature_invalid`` / ``hash_mismatch`` / ``manifest_invalid``),
   then every file the collector reads later against its schema (422, ``file_invalid``, see ``contents.py``).

Step 7 is CPU work (gunzip, tar, sha256, Ed25519, pydantic). It runs, with the blob's adoption, in a pool of worker
processes: in threads it would hold the GIL against the event loop. The upload is staged as a file first and
the worker is given its path: 64 KB through a pipe costs the server more than writing it to the page cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Self

from shared.bundle import ReadLimits, open_bundle, peek_manifest
from shared.errors import BundleError, BundleTooLarge
from shared.models import BundleManifest
from shared.signing import public_key_from_text

from .blobs import BlobLocation, BlobStore, open_blob_store
from .contents import ContentInvalid, parse_contents
from .errors import BadRequest, CollectorError, Forbidden, PayloadTooLarge
from .fleet import causes_of
from .models import AgentRecord, BundleRecord
from .store.fleet_facts import DeviceCause

UNVERIFIABLE_STATUS = 422  # well-formed, but the signature, a hash, the listing or a file's schema does not hold
PEEK_LIMITS = ReadLimits(max_member_bytes=4 * 1024 * 1024)


class Unverifiable(Exception):
    """Raised in a worker: the archive was read safely but does not verify. Picklable across processes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Upload:
    data: bytes
    claimed: BundleManifest  # trusted only after verification

    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Verified:
    manifest: BundleManifest
    sha256: str
    causes: tuple[DeviceCause, ...] = ()  # for the fleet index, read from the files while they are at hand


def as_collector_error(exc: BundleError) -> CollectorError:
    """A bundle reader's error as an API error with the same stable code."""
    if isinstance(exc, BundleTooLarge):
        return PayloadTooLarge(str(exc), code=exc.code)
    return BadRequest(str(exc), code=exc.code)


def peek_upload(data: bytes, limits: ReadLimits) -> Upload:
    """What the bytes claim, from the first member only: cheap enough for the event loop."""
    peek = ReadLimits(
        max_archive_bytes=limits.max_archive_bytes,
        max_member_bytes=PEEK_LIMITS.max_member_bytes,
        max_uncompressed_bytes=limits.max_uncompressed_bytes,
        max_members=limits.max_members,
    )
    try:
        claimed = peek_manifest(data, peek)
    except BundleError as exc:
        raise as_collector_error(exc) from exc
    return Upload(data=data, claimed=claimed)


def check_agent(manifest: BundleManifest, agent: AgentRecord | None) -> AgentRecord:
    if agent is None:
        raise Forbidden(f"agent {manifest.agent_id} is not enrolled", code="agent_unknown")
    if agent.revoked_at is not None:
        raise Forbidden(f"agent {agent.agent_id} was revoked", code="agent_revoked")
    if agent.household != manifest.household:
        raise Forbidden("the manifest names another household than the agent's", code="household_mismatch")
    return agent


@cache
def _blob_store(location: BlobLocation) -> BlobStore:
    """One store per worker process, opened from its picklable description."""
    return open_blob_store(location)


def verify_in_worker(staged: Path, public_key: str, limits: ReadLimits, blobs: BlobLocation) -> Verified:
    """``verify_and_store`` in a worker process, with the process's own blob store."""
    return verify_and_store(staged, public_key, limits, _blob_store(blobs))


def verify_and_store(staged: Path, public_key: str, limits: ReadLimits, blobs: BlobStore) -> Verified:
    """Read the staged archive safely, verify signature and hashes, then adopt it as a blob. Runs in a worker
    (process or thread); a refused upload's staged file is the caller's to remove."""
    data = staged.read_bytes()
    opened = open_bundle(data, limits)  # unsafe or too large: the reader's own error (400/413)
    try:
        verified = opened.verify(public_key_from_text(public_key))
    except BundleError as exc:
        raise Unverifiable(exc.code, str(exc)) from None
    try:
        contents = parse_contents(verified.files)  # what the pages read must parse, or every reader of it fails
    except ContentInvalid as exc:
        raise Unverifiable("file_invalid", str(exc)) from None
    sha256 = hashlib.sha256(data).hexdigest()
    blobs.adopt(staged, sha256)
    return Verified(verified.manifest, sha256, causes_of(verified.manifest.trigger, contents))


def bundle_record(upload: Upload, verified: Verified, agent: AgentRecord, received_at: datetime) -> BundleRecord:
    manifest = verified.manifest
    return BundleRecord(
        bundle_id=str(manifest.bundle_id),
        agent_id=agent.agent_id,
        household=agent.household,
        sha256=verified.sha256,
        size=len(upload.data),
        created_at=manifest.created_at,
        received_at=received_at,
        trigger=manifest.trigger,
        window=manifest.window,
        key_id=agent.key_id,
    )


class IngestWorkers:
    """Owns the workers that verify bundles and write their blobs: processes, or one thread when ``workers`` is 0."""

    def __init__(self, workers: int, blobs: BlobStore) -> None:
        self._workers = workers
        self._blobs = blobs
        self._executor: Executor | None = None

    async def __aenter__(self) -> Self:
        if self._workers > 0:
            # spawn, not fork: the parent has threads (the store's) that a fork would copy mid-flight.
            self._executor = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"))
        else:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="collector-verify")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._executor is not None
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
        self._executor = None

    async def verify_and_store(self, upload: Upload, agent: AgentRecord, limits: ReadLimits) -> Verified:
        if self._executor is None:
            raise RuntimeError("IngestWorkers used outside 'async with'")
        loop = asyncio.get_running_loop()
        # Creating a file can wait on the journal commit of another worker's fsync: not on the event loop.
        staged = await asyncio.to_thread(self._blobs.stage, upload.data)
        try:
            if isinstance(self._executor, ProcessPoolExecutor):
                return await loop.run_in_executor(
                    self._executor, verify_in_worker, staged, agent.public_key, limits, self._blobs.location
                )
            return await loop.run_in_executor(
                self._executor, verify_and_store, staged, agent.public_key, limits, self._blobs
            )
        except BaseException as exc:
            staged.unlink(missing_ok=True)  # refused, not stored, or the worker died: nothing of it is kept
            if isinstance(exc, Unverifiable):
                raise CollectorError(exc.message, code=exc.code, status=UNVERIFIABLE_STATUS) from None
            if isinstance(exc, BundleError):
                raise as_collector_error(exc) from None
            raise
