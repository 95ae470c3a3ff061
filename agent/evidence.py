"""Where discovery and the monitors put what they observe.

Producers (discovery adapters, monitors) call an ``EvidenceSink``; the flight recorder is the real
sink, ``MemorySink`` collects for tests and one-shot commands. Calls are synchronous and cheap: a sink
must never block the event loop.
"""

from __future__ import annotations

from typing import Protocol

from shared.models import LogLine, TimelineEvent


class EvidenceSink(Protocol):
    def event(self, event: TimelineEvent) -> None: ...

    def log(self, line: LogLine) -> None: ...


class MemorySink:
    """Keeps everything in lists, in arrival order."""

    def __init__(self) -> None:
        self.events: list[TimelineEvent] = []
        self.logs: list[LogLine] = []

    def event(self, event: TimelineEvent) -> None:
        self.events.append(event)

    def log(self, line: LogLine) -> None:
        self.logs.append(line)
