"""The outbox: a bounded on-disk spool of signed bundles and the one task that uploads them.

The spool directory is the whole state. A bundle is ``<seq>-<u|n>-<bundle id>.bundle`` (``u`` = urgent);
``seq`` orders bundles oldest-first. Files are written atomically (temporary file in the same directory,
fsync, rename, fsync the directory), so after a crash a bundle is either complete or absent; leftover
temporary files are removed when the outbox starts and never uploaded.

Several processes share the spool (the running agent, ``bundle create --upload``, ``bundle flush``): every
write into it happens under an exclusive ``flock`` on ``spool/.lock``, and so does the start-up clean-up. A
temporary file the clean-up sees is therefore never another live process's write in progress (the kernel
drops a dead process's lock), only a crashed one's.

A fault's bundle is first *staged* (``<bundle id>.staged``: complete, not yet uploadable), then recorded in
``captures.jsonl``, then committed into the spool (see ``agent.capture``): a staged file found at start is a
capture the agent was killed in the middle of, and is finished rather than made again.

A bundle leaves the spool in exactly three ways, the last two recorded before the file goes:
- the collector acknowledged it (200/201): deleted (by whichever process uploaded it);
- the collector refused it for good (400/403/409/413/422): moved to ``rejected/`` with the reason, and a line
  in ``rejected.jsonl``;
- the spool was full: the oldest non-urgent bundles are dropped to make room, with a line in ``dropped.jsonl``.

Decisions (which bundles to drop, upload order, backoff delay) are pure functions; ``Spool`` does the
blocking file work (called through ``asyncio.to_thread``); ``Outbox`` owns the uploader task.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.aio import started
from shared.atomic_file import TMP_PREFIX, fsync_dir, write_atomically
from shared.bundle import open_bundle, peek_manifest
from shared.errors import HomediagError
from shared.models import BundleManifest, Trigger, utcnow

from .collector_client import UploadOutcome, UploadResult
from .config import AgentConfig
from .crashpoints import CaptureStep, crash_point
from .errors import AgentError, CollectorUnavailable

_LOGGER = logging.getLogger(__name__)

BUNDLE_SUFFIX = ".bundle"
STAGED_SUFFIX = ".staged"
LOCK_FILE = ".lock"
DROPPED_LOG = "dropped.jsonl"
REJECTED_LOG = "rejected.jsonl"
REJECTED_DIR = "rejected"
RECORD_LOG_MAX_LINES = 1000
CLAIMED_RECHECK_S = 0.1  # every bundle left is another process's upload in progress: look again this soon
_NAME = re.compile(r"^(?P<seq>\d{20})-(?P<urgency>[un])-(?P<bundle_id>[0-9a-f-]{36})\.bundle$")


class SpoolFull(AgentError):
    """No room for a bundle even after dropping every non-urgent one."""

    code = "spool_full"


@dataclass(frozen=True)
class SpoolEntry:
    path: Path
    seq: int
    urgent: bool
    bundle_id: str
    size: int

    @property
    def name(self) -> str:
        return self.path.name


class SpoolRecord(BaseModel):
    """One line of ``dropped.jsonl`` or ``rejected.jsonl``: a bundle that left the spool undelivered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: AwareDatetime = Field(default_factory=utcnow)
    bundle_id: str
    trigger: Trigger | None = None
    reason: str
    status: int | None = None
    code: str | None = None


@dataclass(frozen=True)
class PutResult:
    entry: SpoolEntry
    dropped: list[SpoolRecord]
    already_queued: bool = False
    held: bool = False  # in memory: the disk refused it (``entry.path`` is where it will go)


class Fate(StrEnum):
    """Where a bundle is, as far as the spool can tell."""

    QUEUED = "queued"
    REJECTED = "rejected"
    DROPPED = "dropped"
    DELIVERED = "delivered"  # none of the above: only an acknowledged upload takes a bundle out unrecorded


@dataclass(frozen=True)
class Pause:
    """The uploader's wait before its next try: a backoff (``wake()`` cuts it short) or a Retry-After."""

    seconds: float
    interruptible: bool


@dataclass
class Claim:
    """An flock on a spooled bundle: this process is uploading it."""

    fd: int

    def release(self) -> None:
        os.close(self.fd)


def entry_name(seq: int, urgent: bool, bundle_id: str) -> str:
    return f"{seq:020d}-{'u' if urgent else 'n'}-{bundle_id}{BUNDLE_SUFFIX}"


def parse_entry_name(name: str) -> tuple[int, bool, str] | None:
    match = _NAME.match(name)
    if match is None:
        return None
    return int(match["seq"]), match["urgency"] == "u", match["bundle_id"]


def upload_order(entries: Iterable[SpoolEntry]) -> list[SpoolEntry]:
    """Urgent bundles first, each group oldest-first."""
    return sorted(entries, key=lambda e: (not e.urgent, e.seq))


def plan_eviction(
    entries: Sequence[SpoolEntry],
    *,
    incoming_size: int,
    max_bytes: int,
    max_files: int,
    keep: frozenset[str] = frozenset(),
) -> list[SpoolEntry]:
    """The bundles to drop so that one more of ``incoming_size`` bytes fits: oldest non-urgent first.

    ``keep`` names bundle ids that must not be dropped (the one being uploaded). Raises ``SpoolFull`` when
    even dropping every candidate leaves no room.
    """
    if incoming_size > max_bytes:
        raise SpoolFull(f"the bundle ({incoming_size} bytes) is larger than the whole spool ({max_bytes} bytes)")
    used = sum(e.size for e in entries)
    count = len(entries)
    victims: list[SpoolEntry] = []
    candidates = iter(sorted((e for e in entries if not e.urgent and e.bundle_id not in keep), key=lambda e: e.seq))
    while used + incoming_size > max_bytes or count + 1 > max_files:
        victim = next(candidates, None)
        if victim is None:
            raise SpoolFull(
                f"the spool is full ({count} bundles, {used} bytes) and only urgent or in-flight bundles remain"
            )
        victims.append(victim)
        used -= victim.size
        count -= 1
    return victims


def backoff_delay(attempt: int, initial_s: float, max_s: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, initial * 2**attempt)]."""
    ceiling = min(max_s, initial_s * (2 ** min(attempt, 62)))
    return rand() * ceiling


def _claimed_trigger(path: Path) -> Trigger | None:
    """The trigger a spooled bundle claims (unverified: it is only recorded), None if unreadable."""
    try:
        return open_bundle(path.read_bytes()).claimed.trigger
    except (HomediagError, FileNotFoundError):
        return None


class Spool:
    """The spool directory. Blocking file I/O, safe to call from several threads."""

    def __init__(self, directory: Path, *, max_bytes: int, max_files: int, max_rejected: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.max_rejected = max_rejected
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: AgentConfig) -> Spool:
        return cls(
            config.state_dir / "spool",
            max_bytes=config.spool.max_bytes,
            max_files=config.spool.max_files,
            max_rejected=config.spool.max_rejected,
        )

    @property
    def rejected_dir(self) -> Path:
        return self.directory / REJECTED_DIR

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's threads, then the other processes sharing the spool, one writer at a time."""
        with self._lock:
            self._ensure_dirs()
            fd = os.open(self.directory / LOCK_FILE, os.O_RDONLY | os.O_CREAT, 0o600)  # read-only: flock needs no write
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    def recover(self) -> list[Path]:
        """Create the directories; remove temporary files a crashed process left behind (a live writer's
        cannot be seen: it holds the lock while its file exists). Returns what was removed."""
        removed: list[Path] = []
        try:
            with self._locked():
                for directory in (self.directory, self.rejected_dir):
                    for leftover in directory.glob(f"{TMP_PREFIX}*"):
                        _LOGGER.warning("removing %s, a half-written file from an interrupted run", leftover)
                        leftover.unlink(missing_ok=True)
                        removed.append(leftover)
        except OSError as exc:  # a full or read-only disk: leftovers are never uploaded, they only wait
            _LOGGER.warning("spool clean-up skipped: %s", exc)
        return removed

    def _ensure_dirs(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.rejected_dir.mkdir(mode=0o700, exist_ok=True)

    def entries(self) -> list[SpoolEntry]:
        """Every complete bundle in the spool, in upload order."""
        found = []
        try:
            children = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for child in children:
            parsed = parse_entry_name(child.name)
            if parsed is None:
                continue
            try:
                size = child.stat().st_size
            except FileNotFoundError:  # delivered or dropped meanwhile
                continue
            seq, urgent, bundle_id = parsed
            found.append(SpoolEntry(Path(child.path), seq, urgent, bundle_id, size))
        return upload_order(found)

    def put(self, bundle: bytes, manifest: BundleManifest, *, keep: frozenset[str] = frozenset()) -> PutResult:
        """Store a bundle atomically, dropping the oldest non-urgent ones if there is no room."""
        with self._locked():
            return self._place(manifest, len(bundle), lambda path: write_atomically(path, bundle), keep)

    def stage(self, bundle: bytes, manifest: BundleManifest) -> Path:
        """Write a bundle beside the spool, complete but not yet to be uploaded (``commit`` makes it so)."""
        path = self.directory / f"{manifest.bundle_id}{STAGED_SUFFIX}"
        with self._locked():
            write_atomically(path, bundle)
        return path

    def commit(self, staged: Path, manifest: BundleManifest, *, keep: frozenset[str] = frozenset()) -> PutResult:
        """Move a staged bundle into the spool (a no-op answer if it is there already)."""
        with self._locked():
            result = self._place(manifest, staged.stat().st_size, lambda path: os.rename(staged, path), keep)
            staged.unlink(missing_ok=True)  # already queued: the staged copy is a twin
            fsync_dir(self.directory)
            return result

    def staged(self) -> list[tuple[Path, BundleManifest | None]]:
        """Bundles staged by a capture that did not finish, with the manifest each claims (None: unreadable)."""
        found: list[tuple[Path, BundleManifest | None]] = []
        for path in sorted(self.directory.glob(f"*{STAGED_SUFFIX}")):
            try:
                found.append((path, peek_manifest(path.read_bytes())))
            except HomediagError:
                found.append((path, None))
            except FileNotFoundError:  # committed meanwhile
                continue
        return found

    def _place(
        self, manifest: BundleManifest, size: int, write: Callable[[Path], None], keep: frozenset[str]
    ) -> PutResult:
        """Under the lock: make room, then ``write`` the bundle to its spool path."""
        bundle_id = str(manifest.bundle_id)
        entries = self.entries()
        for entry in entries:
            if entry.bundle_id == bundle_id:
                return PutResult(entry, [], already_queued=True)
        victims = plan_eviction(
            entries, incoming_size=size, max_bytes=self.max_bytes, max_files=self.max_files, keep=keep
        )
        dropped = [self._drop(victim) for victim in victims]
        seq = max([time.time_ns(), *(e.seq + 1 for e in entries)])
        path = self.directory / entry_name(seq, manifest.trigger.urgent, bundle_id)
        write(path)
        return PutResult(SpoolEntry(path, seq, manifest.trigger.urgent, bundle_id, size), dropped)

    def fate(self, bundle_id: str) -> Fate:
        """Where a bundle went: still queued, refused, dropped for room, or else delivered (by any process)."""
        if any(entry.bundle_id == bundle_id for entry in self.entries()):
            return Fate.QUEUED
        if any(record.bundle_id == bundle_id for record in self.rejected()):
            return Fate.REJECTED
        if any(record.bundle_id == bundle_id for record in self.dropped()):
            return Fate.DROPPED
        return Fate.DELIVERED

    def _drop(self, victim: SpoolEntry) -> SpoolRecord:
        record = SpoolRecord(
            bundle_id=victim.bundle_id,
            trigger=_claimed_trigger(victim.path),
            reason=f"spool full ({self.max_files} bundles / {self.max_bytes} bytes): oldest non-urgent dropped",
        )
        self._append_record(self.directory / DROPPED_LOG, record)  # first: a bundle never vanishes unrecorded
        victim.path.unlink(missing_ok=True)
        _LOGGER.warning("spool full: dropped bundle %s", victim.bundle_id)
        return record

    def try_claim(self, entry: SpoolEntry) -> Claim | None:
        """The right to upload ``entry`` until ``release()``: None if another process holds it (it is uploading
        that bundle) or the bundle is gone. Processes sharing the spool thus never upload one bundle twice."""
        try:
            fd = os.open(entry.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if not entry.path.exists():  # delivered and removed by the previous holder after we opened it
            os.close(fd)
            return None
        return Claim(fd)

    def read(self, entry: SpoolEntry) -> bytes:
        return entry.path.read_bytes()

    def remove(self, entry: SpoolEntry) -> None:
        """The collector acknowledged the bundle: it may go."""
        with self._locked():
            entry.path.unlink(missing_ok=True)
            fsync_dir(self.directory)

    def reject(self, entry: SpoolEntry, result: UploadResult) -> SpoolRecord:
        """The collector refused the bundle for good: keep it aside with the reason, never retry it."""
        with self._locked():
            record = SpoolRecord(
                bundle_id=entry.bundle_id,
                trigger=_claimed_trigger(entry.path),
                status=result.status,
                code=result.code,
                reason=f"collector refused it: {result.message or result.code}",
            )
            self._append_record(self.directory / REJECTED_LOG, record)  # first: a bundle never vanishes unrecorded
            with contextlib.suppress(FileNotFoundError):
                os.replace(entry.path, self.rejected_dir / entry.name)
            write_atomically(self.rejected_dir / f"{entry.name}.json", record.model_dump_json(indent=2).encode())
            self._trim_rejected()
            return record

    def _trim_rejected(self) -> None:
        kept = sorted(p for p in self.rejected_dir.glob(f"*{BUNDLE_SUFFIX}"))
        for old in kept[: max(0, len(kept) - self.max_rejected)]:
            old.unlink(missing_ok=True)
            old.with_name(f"{old.name}.json").unlink(missing_ok=True)

    def dropped(self) -> list[SpoolRecord]:
        """What the spool dropped for lack of room, oldest first (for the timeline)."""
        return self._read_records(self.directory / DROPPED_LOG)

    def rejected(self) -> list[SpoolRecord]:
        """What the collector refused for good, oldest first."""
        return self._read_records(self.directory / REJECTED_LOG)

    @staticmethod
    def _read_records(path: Path) -> list[SpoolRecord]:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            try:
                records.append(SpoolRecord.model_validate_json(line))
            except ValueError:
                _LOGGER.debug("skipping a damaged line in %s", path)
        return records

    @staticmethod
    def _append_record(path: Path, record: SpoolRecord) -> None:
        line = record.model_dump_json() + "\n"
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        if len(lines) > RECORD_LOG_MAX_LINES:
            write_atomically(path, "".join(lines[-RECORD_LOG_MAX_LINES // 2 :]).encode())


class Uploader(Protocol):
    async def upload(self, bundle: bytes) -> UploadResult: ...


ResultCallback = Callable[[SpoolEntry, UploadResult], None]


class Outbox:
    """Owns the uploader task: ``async with Outbox(spool, client) as outbox: await outbox.put(...)``.

    One bundle at a time, urgent first then oldest first. A collector that cannot be reached is retried with
    exponential backoff and full jitter (``wake()`` retries at once, e.g. when the network comes back); a 429
    is retried after its Retry-After, which ``wake()`` does not cut short. ``on_result`` hears every final
    answer (delivered or rejected).

    A bundle the disk refuses (full, read-only) is held in memory, bounded like the spool, uploaded from there
    and moved into the spool as soon as the disk takes it: a hub whose disk is full still reports (and a full
    disk is worth reporting). Only a restart before either loses it.
    """

    def __init__(
        self,
        spool: Spool,
        client: Uploader,
        *,
        backoff_initial_s: float,
        backoff_max_s: float,
        on_result: ResultCallback | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.spool = spool
        self._client = client
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._on_result = on_result
        self._rand = rand
        self._work = asyncio.Event()  # something to do: a new bundle, or wake()
        self._retry_now = asyncio.Event()  # wake(): cut a backoff wait short
        self._idle = asyncio.Event()  # the spool is empty
        self._in_flight: str | None = None
        self.unreachable: CollectorUnavailable | None = None  # the last upload's failure, until one is answered
        self._task: asyncio.Task[None] | None = None
        # Bundles the disk refused, in memory until it takes them (their path is where they will go).
        self._held: dict[SpoolEntry, tuple[bytes, BundleManifest]] = {}

    @classmethod
    def from_config(cls, config: AgentConfig, client: Uploader, *, on_result: ResultCallback | None = None) -> Outbox:
        return cls(
            Spool.from_config(config),
            client,
            backoff_initial_s=config.upload.backoff_initial_s,
            backoff_max_s=config.upload.backoff_max_s,
            on_result=on_result,
        )

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return started(self._task)

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.spool.recover)
        self._task = asyncio.create_task(self._run(), name="homediag-outbox-uploader")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def put(self, bundle: bytes, manifest: BundleManifest) -> PutResult:
        """Spool a bundle (atomically, off the event loop) and let the uploader know. If the disk refuses it
        (full, read-only), hold it in memory instead; ``SpoolFull`` only when neither has room."""
        keep = frozenset({self._in_flight}) if self._in_flight else frozenset()
        try:
            result = await asyncio.to_thread(self.spool.put, bundle, manifest, keep=keep)
        except OSError as exc:
            result = self._hold(bundle, manifest, exc)
        self._idle.clear()
        self._work.set()
        return result

    async def stage(self, bundle: bytes, manifest: BundleManifest) -> Path:
        """Write a bundle beside the spool, not yet uploaded (``commit``); ``OSError`` if the disk refuses."""
        return await asyncio.to_thread(self.spool.stage, bundle, manifest)

    async def commit(self, staged: Path, manifest: BundleManifest) -> PutResult:
        """Move a staged bundle into the spool and let the uploader know."""
        keep = frozenset({self._in_flight}) if self._in_flight else frozenset()
        result = await asyncio.to_thread(self.spool.commit, staged, manifest, keep=keep)
        self._idle.clear()
        self._work.set()
        return result

    def _hold(self, bundle: bytes, manifest: BundleManifest, error: OSError) -> PutResult:
        bundle_id = str(manifest.bundle_id)
        for entry in self._held:
            if entry.bundle_id == bundle_id:
                return PutResult(entry, [], already_queued=True)
        keep = frozenset({self._in_flight}) if self._in_flight else frozenset()
        victims = plan_eviction(
            list(self._held),
            incoming_size=len(bundle),
            max_bytes=self.spool.max_bytes,
            max_files=self.spool.max_files,
            keep=keep,
        )
        dropped = []
        for victim in victims:
            _, victim_manifest = self._held.pop(victim)
            dropped.append(
                SpoolRecord(
                    bundle_id=victim.bundle_id,
                    trigger=victim_manifest.trigger,
                    reason="the disk refused the spool and memory is full: oldest non-urgent dropped",
                )
            )
            _LOGGER.warning("dropped bundle %s held in memory", victim.bundle_id)
        seq = max([time.time_ns(), *(entry.seq + 1 for entry in self._held)])
        entry = SpoolEntry(
            self.spool.directory / entry_name(seq, manifest.trigger.urgent, bundle_id),
            seq,
            manifest.trigger.urgent,
            bundle_id,
            len(bundle),
        )
        self._held[entry] = (bundle, manifest)
        _LOGGER.warning(
            "the spool refused bundle %s (%s): held in memory, uploaded from there, and spooled once the disk takes it",
            bundle_id,
            error.strerror or error,
        )
        return PutResult(entry, dropped, held=True)

    async def _spool_held(self) -> None:
        """Move bundles held in memory into the spool, oldest first, while the disk takes them."""
        for entry, (bundle, manifest) in sorted(self._held.items(), key=lambda item: item[0].seq):
            try:
                await asyncio.to_thread(self.spool.put, bundle, manifest)
            except (OSError, SpoolFull):
                return
            self._held.pop(entry, None)
            _LOGGER.info("bundle %s held in memory is spooled now", entry.bundle_id)

    def wake(self) -> None:
        """Try to upload now instead of waiting out the backoff (not a 429's Retry-After)."""
        self._retry_now.set()
        self._work.set()

    @property
    def held(self) -> list[SpoolEntry]:
        """Bundles only in memory, because the disk refused them."""
        return upload_order(self._held)

    async def pending(self) -> list[SpoolEntry]:
        """Bundles not yet delivered, in upload order: spooled ones and those held in memory."""
        return upload_order([*self._held, *await asyncio.to_thread(self.spool.entries)])

    async def drain(self, timeout: float) -> bool:
        """Wait until the spool is empty; False if it is not after ``timeout`` seconds."""
        if self._task is None:
            raise AgentError("Outbox.drain used outside 'async with'")
        idle = asyncio.create_task(self._idle.wait())
        try:
            await asyncio.wait([idle, self._task], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await idle
        if self._task.done():
            self._task.result()  # the uploader died: raise its error here
        return self._idle.is_set()

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                attempt = await self._step(attempt)
            except OSError as exc:  # the disk, not the collector: keep the task alive and try again later
                _LOGGER.warning("outbox cannot use the spool %s: %s", self.spool.directory, exc)
                await self._wait(self._backoff_max_s, interruptible=True)

    async def _step(self, attempt: int) -> int:
        """Upload the first bundle in line (or wait for one); returns the next backoff attempt number."""
        self._work.clear()
        if self._held:
            await self._spool_held()
        entries = await self.pending()
        if not entries:
            if not self._work.is_set():
                self._idle.set()
            await self._work.wait()
            return attempt
        self._idle.clear()
        entry, claim = await asyncio.to_thread(self._claim_first, entries, frozenset(self._held))
        if entry is None:  # every one is being uploaded by another process sharing the spool
            await self._wait(CLAIMED_RECHECK_S, interruptible=False)
            return attempt
        try:
            attempt, pause = await self._settle(entry, attempt)
        finally:
            if claim is not None:
                claim.release()  # before any wait: a ``bundle flush`` meanwhile may try it
        if pause is not None:
            await self._wait(pause.seconds, interruptible=pause.interruptible)
        return attempt

    def _claim_first(
        self, entries: list[SpoolEntry], held: frozenset[SpoolEntry]
    ) -> tuple[SpoolEntry | None, Claim | None]:
        """The first bundle in line that no other process is uploading (held ones are this process's own)."""
        for entry in entries:
            if entry in held:
                return entry, None
            claim = self.spool.try_claim(entry)
            if claim is not None:
                return entry, claim
        return None, None

    async def _settle(self, entry: SpoolEntry, attempt: int) -> tuple[int, Pause | None]:
        """Upload one bundle and act on the answer; returns the next backoff attempt number and how long to
        wait before the next upload."""
        try:
            result = await self._upload(entry)
        except CollectorUnavailable as exc:
            self.unreachable = exc
            delay = backoff_delay(attempt, self._backoff_initial_s, self._backoff_max_s, self._rand)
            _LOGGER.info("upload of %s failed (%s); retrying in %.1fs", entry.bundle_id, exc, delay)
            return attempt + 1, Pause(delay, interruptible=True)
        if result is None:
            return attempt, None
        self.unreachable = None
        if result.outcome is UploadOutcome.RETRY_AFTER:
            _LOGGER.info("collector is rate limiting; retrying %s in %.1fs", entry.bundle_id, result.retry_after_s)
            return attempt, Pause(result.retry_after_s or 0.0, interruptible=False)
        if entry in self._held:
            self._forget_held(entry, result)
        elif result.outcome is UploadOutcome.DELIVERED:
            crash_point(CaptureStep.DELIVERED)
            await asyncio.to_thread(self.spool.remove, entry)
            _LOGGER.info("bundle %s delivered (%s)", entry.bundle_id, result.status)
        else:
            await asyncio.to_thread(self.spool.reject, entry, result)
            _LOGGER.warning(
                "collector refused bundle %s for good (%s %s): kept in %s",
                entry.bundle_id,
                result.status,
                result.code,
                self.spool.rejected_dir,
            )
        if self._on_result is not None:
            self._on_result(entry, result)
        return 0, None

    def _forget_held(self, entry: SpoolEntry, result: UploadResult) -> None:
        """A held bundle got its final answer: nothing of it is on disk to remove or keep aside."""
        self._held.pop(entry, None)
        if result.outcome is UploadOutcome.DELIVERED:
            _LOGGER.info("bundle %s delivered from memory (%s)", entry.bundle_id, result.status)
        else:
            _LOGGER.warning(
                "collector refused bundle %s for good (%s %s); it was only in memory (the disk is "
                "full), so it is not kept",
                entry.bundle_id,
                result.status,
                result.code,
            )

    async def _upload(self, entry: SpoolEntry) -> UploadResult | None:
        """Read and upload one entry; None if it vanished meanwhile (dropped to make room)."""
        held = self._held.get(entry)
        if held is not None:
            data = held[0]
        else:
            try:
                data = await asyncio.to_thread(self.spool.read, entry)
            except FileNotFoundError:
                return None
        self._in_flight = entry.bundle_id
        try:
            return await self._client.upload(data)
        finally:
            self._in_flight = None

    async def _wait(self, delay: float, *, interruptible: bool) -> None:
        if interruptible:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._retry_now.wait()
            self._retry_now.clear()
        else:
            await asyncio.sleep(delay)
