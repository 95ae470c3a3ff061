"""Clock jumps: the wall clock moving differently from the monotonic clock between two looks.

A hub without a battery-backed clock boots in the past and jumps when NTP answers; an operator sets the time;
in the lab, ``lab.faults.hub_clock_step`` shifts the agent's wall clock (``agent.clock.Clock`` reads the offset
file). Timestamps on either side of a jump are not comparable, so the jump itself goes into the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.models import EventKind, EventState, TimelineEvent

from ..clock import Clock

CLOCK_JUMP_THRESHOLD_S = 5.0


def clock_jump(
    wall_delta: float, monotonic_delta: float, at: datetime, threshold_s: float = CLOCK_JUMP_THRESHOLD_S
) -> TimelineEvent | None:
    jump = wall_delta - monotonic_delta
    if abs(jump) < threshold_s:
        return None
    return TimelineEvent(
        ts=at,
        kind=EventKind.CLOCK_JUMP,
        state=EventState.FORWARD if jump > 0 else EventState.BACKWARD,
        source="monitor.clock",
        detail={"jump_s": round(jump, 3)},
    )


@dataclass
class ClockWatch:
    """Remembers the last look; ``look`` returns a jump event when the clocks disagree since then."""

    clock: Clock
    wall: float = 0.0
    mono: float = 0.0

    def __post_init__(self) -> None:
        self.wall, self.mono = self.clock.time(), self.clock.monotonic()

    def look(self) -> TimelineEvent | None:
        wall, mono = self.clock.time(), self.clock.monotonic()
        event = clock_jump(wall - self.wall, mono - self.mono, self.clock.now())
        self.wall, self.mono = wall, mono
        return event
