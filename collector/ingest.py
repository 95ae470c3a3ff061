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

Under load the steps that cross to another thread or process go in batches (``batching.Batcher``): the lookups
of steps 3-4 in one trip to the store's thread, step 7 for several uploads in one process-pool round trip with
their blobs adopted together (``BlobStore.adopt_all``), and the records with their fleet facts in one transaction
with a savepoint per bundle (``Store.add_bundles``). A lone upload is never held back, and every upload keeps its
own answer: a bundle that fails in a batch fails alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Self

from shared.bundle import ReadLimits, open_bundle, peek_manifest
from shared.errors import BundleError, BundleTooLarge
from shared.models import BundleManifest
from shared.signing import public_key_from_text

from .batching import Batcher
from .blobs import BlobLocation, BlobStore, open_blob_store
from .clock import Clock
from .config import TicketConfig
from .contents import ContentInvalid, parse_contents
from .errors import BadRequest, CollectorError, Conflict, Forbidden, PayloadTooLarge
from .fleet import causes_of
from .models import AgentRecord, BundleRecord
from .store import Database, Store
from .store.fleet_facts import DeviceCause, FleetFact

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


@dataclass(frozen=True)
class VerifyJob:
    """One staged upload for a worker: where its bytes are, the enrolled key to verify them against."""

    staged: Path
    public_key: str
    limits: ReadLimits


# A job's answer: verified and stored, or the error that refuses (or failed) that upload alone.
VerifyAnswer = Verified | Exception


@cache
def _blob_store(location: BlobLocation) -> BlobStore:
    """One store per worker process, opened from its picklable description."""
    return open_blob_store(location)


def verify_batch_in_worker(jobs: list[VerifyJob], blobs: BlobLocation) -> list[VerifyAnswer]:
    """``verify_batch`` in a worker process, with the process's own blob store."""
    return verify_batch(jobs, _blob_store(blobs))


def verify_staged(job: VerifyJob) -> Verified:
    """Read the staged archive safely, verify signature, hashes and the files' schemas (nothing is written)."""
    data = job.staged.read_bytes()
    opened = open_bundle(data, job.limits)  # unsafe or too large: the reader's own error (400/413)
    try:
        verified = opened.verify(public_key_from_text(job.public_key))
    except BundleError as exc:
        raise Unverifiable(exc.code, str(exc)) from None
    try:
        contents = parse_contents(verified.files)  # what the pages read must parse, or every reader of it fails
    except ContentInvalid as exc:
        raise Unverifiable("file_invalid", str(exc)) from None
    sha256 = hashlib.sha256(data).hexdigest()
    return Verified(verified.manifest, sha256, causes_of(verified.manifest.trigger, contents))


def verify_batch(jobs: list[VerifyJob], blobs: BlobStore) -> list[VerifyAnswer]:
    """Verify each staged upload, then adopt those that hold as blobs together (one wave of fsyncs or PUTs).
    Runs in a worker (process or thread). Each job gets its own answer; a refused upload's staged file is
    removed here, so only a worker that died leaves staged files to its caller."""
    answers: list[VerifyAnswer] = []
    for job in jobs:
        try:
            answers.append(verify_staged(job))
        except Exception as exc:  # this upload's own failure, whatever it is: never its batch-mates'
            answers.append(exc)
    held = [(job, answer) for job, answer in zip(jobs, answers, strict=True) if isinstance(answer, Verified)]
    failures = blobs.adopt_all([(job.staged, answer.sha256) for job, answer in held])
    adopted = dict(zip((job.staged for job, _ in held), failures, strict=True))
    result: list[VerifyAnswer] = []
    for job, answer in zip(jobs, answers, strict=True):
        failure = adopted.get(job.staged)
        if isinstance(answer, Exception) or failure is not None:
            job.staged.unlink(missing_ok=True)
        result.append(failure if failure is not None else answer)
    return result


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


def as_upload_error(exc: BaseException) -> BaseException:
    """A worker's refusal as the API error the upload is answered with; anything else as it is."""
    if isinstance(exc, Unverifiable):
        return CollectorError(exc.message, code=exc.code, status=UNVERIFIABLE_STATUS)
    if isinstance(exc, BundleError):
        return as_collector_error(exc)
    return exc


@dataclass(frozen=True)
class _Staging:
    upload: Upload
    public_key: str
    limits: ReadLimits


class IngestWorkers:
    """Owns the workers that verify bundles and write their blobs: processes, or one thread when ``workers`` is 0.
    Uploads that arrive while the workers are busy go to them together: one round trip and one wave of blob
    writes per batch instead of per upload."""

    MAX_BATCH = 16

    def __init__(self, workers: int, blobs: BlobStore) -> None:
        self._workers = workers
        self._blobs = blobs
        self._executor: Executor | None = None
        self._batcher = Batcher(self._verify_batch, lanes=max(1, workers), max_batch=self.MAX_BATCH)

    async def __aenter__(self) -> Self:
        if self._workers > 0:
            # spawn, not fork: the parent has threads (the store's) that a fork would copy mid-flight.
            self._executor = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"))
        else:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="collector-verify")
        await self._batcher.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._executor is not None
        await self._batcher.__aexit__(*exc)
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
        self._executor = None

    async def verify_and_store(self, upload: Upload, agent: AgentRecord, limits: ReadLimits) -> Verified:
        if self._executor is None:
            raise RuntimeError("IngestWorkers used outside 'async with'")
        return await self._batcher.submit(_Staging(upload, agent.public_key, limits))

    def _stage_all(self, batch: list[_Staging]) -> list[VerifyJob]:
        staged: list[Path] = []
        try:
            for item in batch:
                staged.append(self._blobs.stage(item.upload.data))
        except BaseException:
            _unlink_all(staged)
            raise
        return [VerifyJob(path, item.public_key, item.limits) for path, item in zip(staged, batch, strict=True)]

    async def _verify_batch(self, batch: list[_Staging]) -> list[Verified | BaseException]:
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        # Creating a file can wait on the journal commit of another worker's fsync: not on the event loop.
        jobs = await asyncio.to_thread(self._stage_all, batch)
        try:
            if isinstance(self._executor, ProcessPoolExecutor):
                answers = await loop.run_in_executor(self._executor, verify_batch_in_worker, jobs, self._blobs.location)
            else:
                answers = await loop.run_in_executor(self._executor, verify_batch, jobs, self._blobs)
        except BaseException:
            # Not answered (the worker died, or shutdown): nothing of it is kept.
            await asyncio.shield(asyncio.to_thread(_unlink_all, [job.staged for job in jobs]))
            raise
        return [answer if isinstance(answer, Verified) else as_upload_error(answer) for answer in answers]


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class IngestRecords:
    """The store's side of ingest, batched as the verification is: the uploads' lookups in one trip to the
    store's thread, and the verified bundles' records with their fleet facts in one transaction."""

    MAX_BATCH = 32

    def __init__(self, db: Database, tickets: TicketConfig, clock: Clock) -> None:
        self._db = db
        self._slack = timedelta(seconds=tickets.attach_slack_s)
        self._lookback = timedelta(seconds=tickets.attach_lookback_s)
        self._clock = clock
        self._lookups = Batcher(self._lookup_batch, max_batch=self.MAX_BATCH)
        self._additions = Batcher(self._add_batch, max_batch=self.MAX_BATCH)

    async def __aenter__(self) -> Self:
        await self._lookups.__aenter__()
        await self._additions.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._additions.__aexit__(*exc)
        await self._lookups.__aexit__(*exc)

    async def lookup(self, bundle_id: str, agent_id: str) -> tuple[BundleRecord | None, AgentRecord | None]:
        """The bundle stored under this id, if any, and the claimed agent's enrolment."""
        return await self._lookups.submit((bundle_id, agent_id))

    async def add(self, record: BundleRecord, facts: list[FleetFact]) -> BundleRecord:
        """Store a verified bundle (attached as ``Store.add_bundles`` does); ``Conflict`` when its id was taken."""
        return await self._additions.submit((record, facts))

    async def _lookup_batch(self, keys: list[tuple[str, str]]) -> list[tuple[BundleRecord | None, AgentRecord | None]]:
        return await self._db.run(Store.ingest_lookups, keys)

    async def _add_batch(self, bundles: list[tuple[BundleRecord, list[FleetFact]]]) -> list[BundleRecord | Conflict]:
        return await self._db.run(
            Store.add_bundles, bundles, slack=self._slack, lookback=self._lookback, now=self._clock()
        )
