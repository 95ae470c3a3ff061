"""The flight recorder: bounded rings of timeline events and log lines that survive restarts.

Each ring is kept in memory (a deque capped by count) and mirrored to an append-only JSON-lines file in the
recorder's directory. Every record is written (not fsynced) as it arrives, so a killed agent loses nothing the
kernel has; ``sync()`` fsyncs (the runtime calls it periodically, off the event loop). On start the files are
read back, records older than ``max_age_s`` or beyond the caps are dropped, and a file grown past twice its
cap is rewritten. A corrupt line (a power cut mid-write) is skipped and counted.

A full (or failing) disk never reaches the callers: the ring goes on in memory, and ``sync()`` rewrites the
file from memory as soon as the disk takes it again, so nothing the rings still hold is lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, TextIO, TypeVar

from pydantic import ValidationError

from shared.atomic_file import write_atomically
from shared.models import LogLine, TimelineEvent, utcnow

from .config import RecorderConfig

_LOGGER = logging.getLogger(__name__)

RecordT = TypeVar("RecordT", TimelineEvent, LogLine)


class _Ring(Generic[RecordT]):
    def __init__(
        self, path: Path, model: type[RecordT], cap: int, max_age: timedelta, now: Callable[[], datetime]
    ) -> None:
        self.path = path
        self._model: type[RecordT] = model
        self._cap = cap
        self._max_age = max_age
        self._now = now
        self.records: deque[RecordT] = deque(maxlen=cap)
        self.corrupt_lines = 0
        self.unsaved = 0  # records only in memory since the disk refused a write
        self._lines_in_file = 0
        self._lock = threading.Lock()  # sync() runs in a worker thread
        self._file: TextIO | None = None
        self._load()
        if not self.unsaved:
            self._reopen()

    def _load(self) -> None:
        if not self.path.exists():
            return
        cutoff = self._now() - self._max_age
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                self._lines_in_file += 1
                try:
                    record = self._model.model_validate_json(line)
                except ValidationError:
                    self.corrupt_lines += 1
                    continue
                if record.ts >= cutoff:
                    self.records.append(record)
        if self.corrupt_lines:
            _LOGGER.warning("%s: skipped %d unreadable lines", self.path.name, self.corrupt_lines)
        if self._lines_in_file > len(self.records):
            error = self._rewrite()
            if error is not None:
                self._refused()
                _LOGGER.warning(
                    "%s: cannot rewrite it (%s); new records stay in memory until it can", self.path.name, error
                )

    def _reopen(self) -> None:
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - owned until close()

    def _rewrite(self) -> OSError | None:
        """The file made anew from memory; the error if the disk refused (the old file is then left as it was)."""
        try:
            write_atomically(self.path, "".join(record.model_dump_json() + "\n" for record in self.records).encode())
        except OSError as exc:
            return exc
        self._lines_in_file = len(self.records)
        return None

    def _refused(self) -> None:
        """Memory only from now on, until ``sync()`` manages a rewrite. Called under the lock."""
        if self._file is not None:
            with contextlib.suppress(OSError):  # closing flushes what the disk just refused
                self._file.close()
            self._file = None
        self.unsaved = max(self.unsaved, 1)

    def append(self, record: RecordT) -> None:
        refused: OSError | None = None
        with self._lock:
            self.records.append(record)
            if self._file is None:
                self.unsaved += 1
                return
            try:
                self._file.write(record.model_dump_json() + "\n")
                self._file.flush()
                self._lines_in_file += 1
                if self._lines_in_file > 2 * self._cap:
                    self._file.close()
                    self._file = None
                    error = self._rewrite()
                    if error is not None:
                        raise error
                    self._reopen()
            except OSError as exc:
                self._refused()
                refused = exc
        if refused is not None:  # logged outside the lock: the log handler appends to a ring too
            _LOGGER.warning(
                "%s: the disk refused a write (%s); kept in memory until it takes it again",
                self.path.name,
                refused.strerror or refused,
            )

    def between(self, since: datetime | None, until: datetime | None) -> list[RecordT]:
        return [r for r in list(self.records) if (since is None or r.ts >= since) and (until is None or r.ts <= until)]

    def sync(self) -> None:
        caught_up = 0
        with self._lock:
            if self._file is not None:
                try:
                    os.fsync(self._file.fileno())
                except OSError:
                    self._refused()
                return
            if self._rewrite() is not None:
                return
            try:
                self._reopen()
            except OSError:
                return
            caught_up, self.unsaved = self.unsaved, 0
        if caught_up:
            _LOGGER.warning(
                "%s: written again after the disk refused it (%d records were only in memory)",
                self.path.name,
                caught_up,
            )

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None


class RecorderLogHandler(logging.Handler):
    """Puts the agent's own log records (``agent.*`` at INFO and above) into the recorder's log ring."""

    def __init__(self, recorder: FlightRecorder, now: Callable[[], datetime] = utcnow) -> None:
        super().__init__(logging.INFO)
        self._recorder = recorder
        self._now = now

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._recorder.log(
                LogLine(
                    ts=self._now(),
                    source="agent",
                    level=record.levelname.lower(),
                    message=f"{record.name}: {record.getMessage()}",
                )
            )
        except Exception:
            self.handleError(record)


class FlightRecorder:
    """An ``EvidenceSink`` that remembers. Safe to use without an event loop; cheap per record."""

    def __init__(self, directory: Path, config: RecorderConfig, *, now: Callable[[], datetime] = utcnow) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        max_age = timedelta(seconds=config.max_age_s)
        self._events: _Ring[TimelineEvent] = _Ring(
            directory / "events.jsonl", TimelineEvent, config.max_events, max_age, now
        )
        self._logs: _Ring[LogLine] = _Ring(directory / "logs.jsonl", LogLine, config.max_log_lines, max_age, now)
        self._listeners: list[Callable[[TimelineEvent], None]] = []

    def subscribe(self, listener: Callable[[TimelineEvent], None]) -> None:
        """Called with every new event (the fault engine listens)."""
        self._listeners.append(listener)

    def event(self, event: TimelineEvent) -> None:
        self._events.append(event)
        for listener in self._listeners:
            listener(event)

    def log(self, line: LogLine) -> None:
        self._logs.append(line)

    def extend(self, events: Iterable[TimelineEvent]) -> None:
        for event in events:
            self.event(event)

    def events(self, since: datetime | None = None, until: datetime | None = None) -> list[TimelineEvent]:
        return self._events.between(since, until)

    def logs(self, since: datetime | None = None, until: datetime | None = None) -> list[LogLine]:
        return self._logs.between(since, until)

    @property
    def unsaved(self) -> int:
        """Records held only in memory because the disk refused them (0 when all is on disk)."""
        return self._events.unsaved + self._logs.unsaved

    def sync(self) -> None:
        """fsync both rings, or rewrite a ring the disk refused before: blocking, call from a thread."""
        self._events.sync()
        self._logs.sync()

    def close(self) -> None:
        self._events.close()
        self._logs.close()
