"""The flight recorder: bounded rings of timeline events and log lines that survive restarts.

Each ring is kept in memory (a deque capped by count) and mirrored to an append-only JSON-lines file in the
recorder's directory. Every record is written (not fsynced) as it arrives, so a killed agent loses nothing the
kernel has; ``sync()`` fsyncs (the runtime calls it periodically, off the event loop). On start the files are
read back, records older than ``max_age_s`` or beyond the caps are dropped, and a file grown past twice its
cap is rewritten. A corrupt line (a power cut mid-write) is skipped and counted.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from shared.models import LogLine, TimelineEvent, utcnow

from .config import RecorderConfig

_LOGGER = logging.getLogger(__name__)

RecordT = TypeVar("RecordT", TimelineEvent, LogLine)


class _Ring(Generic[RecordT]):
    def __init__(self, path: Path, model: type[RecordT], cap: int, max_age: timedelta, now: Callable[[], datetime]) -> None:
        self.path = path
        self._model = model
        self._cap = cap
        self._max_age = max_age
        self._now = now
        self.records: deque[RecordT] = deque(maxlen=cap)
        self.corrupt_lines = 0
        self._lines_in_file = 0
        self._lock = threading.Lock()  # sync() runs in a worker thread
        self._load()
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - owned until close()

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
            self._rewrite()

    def _rewrite(self) -> None:
        temp = self.path.with_suffix(".tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            handle.writelines(record.model_dump_json() + "\n" for record in self.records)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path)
        self._lines_in_file = len(self.records)

    def append(self, record: RecordT) -> None:
        with self._lock:
            self.records.append(record)
            self._file.write(record.model_dump_json() + "\n")
            self._file.flush()
            self._lines_in_file += 1
            if self._lines_in_file > 2 * self._cap:
                self._file.close()
                self._rewrite()
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def between(self, since: datetime | None, until: datetime | None) -> list[RecordT]:
        return [r for r in list(self.records) if (since is None or r.ts >= since) and (until is None or r.ts <= until)]

    def sync(self) -> None:
        with self._lock:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            self._file.close()


class RecorderLogHandler(logging.Handler):
    """Puts the agent's own log records (``agent.*`` at INFO and above) into the recorder's log ring."""

    def __init__(self, recorder: FlightRecorder, now: Callable[[], datetime] = utcnow) -> None:
        super().__init__(logging.INFO)
        self._recorder = recorder
        self._now = now

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._recorder.log(LogLine(ts=self._now(), source="agent", level=record.levelname.lower(),
                                       message=f"{record.name}: {record.getMessage()}"))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


class FlightRecorder:
    """An ``EvidenceSink`` that remembers. Safe to use without an event loop; cheap per record."""

    def __init__(self, directory: Path, config: RecorderConfig, *, now: Callable[[], datetime] = utcnow) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        max_age = timedelta(seconds=config.max_age_s)
        self._events: _Ring[TimelineEvent] = _Ring(directory / "events.jsonl", TimelineEvent, config.max_events, max_age, now)
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

    def sync(self) -> None:
        """fsync both rings: blocking, call from a thread."""
        self._events.sync()
        self._logs.sync()

    def close(self) -> None:
        self._events.close()
        self._logs.close()
