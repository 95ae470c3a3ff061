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
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from itertools import zip_longest
from pathlib import Path
from typing import Generic, Self, TypeVar

from shared.bundle import ReadLimits, open_bundle, peek_manifest
from shared.errors import BundleError, BundleTooLarge
from shared.models import BundleManifest
from shared.signing import public_key_from_text

from .blobs import BlobStore
from .config import TicketConfig
from .contents import ContentInvalid, parse_contents
from .errors import BadRequest, CollectorError, Conflict, Forbidden, PayloadTooLarge
from .models import AgentRecord, BundleRecord
from .store import Database, Store

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
def _blob_store(root: Path, fsync: bool) -> BlobStore:
    return BlobStore(root, fsync=fsync)


def verify(staged: Path, public_key: str, limits: ReadLimits) -> Verified:
    """Read the staged archive safely, verify signature, hashes and contents. Runs in a worker."""
    data = staged.read_bytes()
    opened = open_bundle(data, limits)  # unsafe or too large: the reader's own error (400/413)
    try:
        verified = opened.verify(public_key_from_text(public_key))
    except BundleError as exc:
        raise Unverifiable(exc.code, str(exc)) from None
    try:
        parse_contents(verified.files)  # what the pages will read must parse, or every reader of the ticket fails
    except ContentInvalid as exc:
        raise Unverifiable("file_invalid", str(exc)) from None
    return Verified(verified.manifest, hashlib.sha256(data).hexdigest())


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


Item = TypeVar("Item")
Result = TypeVar("Result")


class Batches(Generic[Item, Result]):
    """Hands items over in batches: what queues up while ``concurrency`` batches are running goes out together
    as the next one (at most ``max_batch``), so a hand-off's fixed cost (a process pool's pickling and wake-ups,
    a thread hop, a commit) is paid once per batch under load, and an item alone still goes at once.
    ``run_batch`` answers one result per item, in order: a value, or the exception that item raises."""

    def __init__(
        self,
        run_batch: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]],
        *,
        concurrency: int,
        max_batch: int,
    ) -> None:
        self._run_batch = run_batch
        self._concurrency = concurrency
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._start()
        return await future

    def _start(self) -> None:
        while self._waiting and len(self._running) < self._concurrency:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start()

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        results: Sequence[Result | BaseException]
        try:
            results = await self._run_batch([item for item, _ in batch])
        except BaseException as exc:  # the hand-off itself failed (or was cancelled): every item of it did
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its request went away meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Wait for the batches under way; what never started is refused."""
        for _, future in self._waiting:
            future.cancel()
        self._waiting = []
        await asyncio.gather(*self._running, return_exceptions=True)


@dataclass(frozen=True)
class _VerifyJob:
    staged: Path
    public_key: str
    limits: ReadLimits


def verify_and_store_batch(jobs: list[_VerifyJob], blob_root: Path, fsync: bool) -> list[Verified | Exception]:
    """Each job's staged archive verified, then the verified ones adopted as blobs together (their fsyncs, the
    slow part, in one group). Runs in a worker: one hand-off for the batch, one answer per job; a refused
    upload's staged file is the caller's to remove."""
    results: list[Verified | Exception] = []
    for job in jobs:
        try:
            results.append(verify(job.staged, job.public_key, job.limits))
        except Exception as exc:  # this upload's answer (an unforeseen error is its own 500), not the batch's
            results.append(exc)
    verified = [
        (job.staged, result.sha256) for job, result in zip(jobs, results, strict=True) if isinstance(result, Verified)
    ]
    try:
        _blob_store(blob_root, fsync).adopt_many(verified)
    except CollectorError as exc:  # the disk refused: the batch is refused (a blob placed already names no record)
        return [exc if isinstance(result, Verified) else result for result in results]
    return results


@dataclass(frozen=True)
class _Commit:
    record: BundleRecord
    now: datetime


# Uploads verified or stored together: enough to amortise a hand-off, few enough that one slow batch delays few.
MAX_BATCH = 16


class IngestWorkers:
    """Owns the workers that verify bundles and write their blobs (processes, or one thread when ``workers`` is
    0), and the group commit of their records: both take what arrives meanwhile as one batch."""

    def __init__(self, workers: int, blobs: BlobStore, db: Database, tickets: TicketConfig) -> None:
        self._workers = workers
        self._blobs = blobs
        self._db = db
        self._slack = timedelta(seconds=tickets.attach_slack_s)
        self._lookback = timedelta(seconds=tickets.attach_lookback_s)
        self._executor: Executor | None = None
        self._verify = Batches(self._verify_batch, concurrency=max(workers, 1), max_batch=MAX_BATCH)
        self._commit = Batches(self._commit_batch, concurrency=1, max_batch=MAX_BATCH * 4)

    async def __aenter__(self) -> Self:
        if self._workers > 0:
            # spawn, not fork: the parent has threads (the store's) that a fork would copy mid-flight.
            self._executor = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"))
        else:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="collector-verify")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._executor is not None
        await self._verify.close()
        await self._commit.close()
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
        self._executor = None

    async def verify_and_store(self, upload: Upload, agent: AgentRecord, limits: ReadLimits) -> Verified:
        """The upload verified and its blob written; an unverifiable one raises its API error."""
        if self._executor is None:
            raise RuntimeError("IngestWorkers used outside 'async with'")
        try:
            return await self._verify.submit((upload.data, agent.public_key, limits))
        except Unverifiable as exc:
            raise CollectorError(exc.message, code=exc.code, status=UNVERIFIABLE_STATUS) from None
        except BundleError as exc:
            raise as_collector_error(exc) from None

    async def _verify_batch(self, uploads: list[tuple[bytes, str, ReadLimits]]) -> list[Verified | Exception]:
        assert self._executor is not None
        # Creating a file can wait on the journal commit of another worker's fsync: not on the event loop.
        staged = await asyncio.to_thread(self._stage_all, [data for data, _, _ in uploads])
        jobs = [_VerifyJob(path, key, limits) for path, (_, key, limits) in zip(staged, uploads, strict=True)]
        results: list[Verified | Exception] = []
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._executor, verify_and_store_batch, jobs, self._blobs.root, self._blobs.fsync
            )
        finally:
            for path, result in zip_longest(staged, results):
                if not isinstance(result, Verified):  # refused, or the worker died: nothing of it is kept
                    path.unlink(missing_ok=True)
        return results

    def _stage_all(self, uploads: list[bytes]) -> list[Path]:
        staged: list[Path] = []
        try:
            for data in uploads:
                staged.append(self._blobs.stage(data))
        except BaseException:
            for path in staged:
                path.unlink(missing_ok=True)
            raise
        return staged

    async def store(self, record: BundleRecord, now: datetime) -> BundleRecord:
        """The verified bundle's record stored and attached (``Store.add_bundle``), committed together with
        the others that arrive meanwhile; ``Conflict`` when its id was taken."""
        return await self._commit.submit(_Commit(record, now))

    async def _commit_batch(self, commits: list[_Commit]) -> list[BundleRecord | Conflict]:
        return await self._db.run(
            Store.add_bundles,
            [commit.record for commit in commits],
            slack=self._slack,
            lookback=self._lookback,
            now=max(commit.now for commit in commits),
        )
