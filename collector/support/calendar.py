"""Business calendars: which moments count towards a service-level clock.

A calendar is a time zone, opening hours on given weekdays and holidays — or around the clock. Clocks are
computed over *countable* intervals: opening hours minus pauses (waiting for the customer or for parts).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str = "UTC"
    opens: time = time(9, 0)
    closes: time = time(18, 0)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    holidays: frozenset[date] = field(default_factory=frozenset)
    around_the_clock: bool = False

    @property
    def business_day(self) -> timedelta:
        """How long one business day lasts (what "1 business day" in a policy means)."""
        if self.around_the_clock:
            return timedelta(days=1)
        return datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)

    def open_intervals(self, start: datetime) -> Iterator[Interval]:
        """Opening intervals from ``start`` on, in UTC-aware datetimes, endlessly."""
        if self.around_the_clock:
            yield start, datetime.max.replace(tzinfo=start.tzinfo)
            return
        zone = ZoneInfo(self.timezone)
        day = start.astimezone(zone).date()
        while True:
            if day.weekday() in self.weekdays and day not in self.holidays:
                opens = datetime.combine(day, self.opens, zone)
                closes = datetime.combine(day, self.closes, zone)
                if closes > start:
                    yield max(opens, start), closes
            day += timedelta(days=1)


def _minus(interval: Interval, pauses: Sequence[Interval]) -> list[Interval]:
    pieces = [interval]
    for pause_start, pause_end in pauses:
        cut = []
        for begin, end in pieces:
            if pause_end <= begin or pause_start >= end:
                cut.append((begin, end))
                continue
            if begin < pause_start:
                cut.append((begin, pause_start))
            if pause_end < end:
                cut.append((pause_end, end))
        pieces = cut
    return pieces


def add(calendar: BusinessCalendar, start: datetime, duration: timedelta, pauses: Sequence[Interval] = ()) -> datetime:
    """The moment ``duration`` of countable time has passed after ``start``."""
    left = duration
    for interval in calendar.open_intervals(start):
        for begin, end in _minus(interval, pauses):
            if end - begin >= left:
                return (begin + left).astimezone(UTC)
            left -= end - begin
    raise AssertionError("unreachable: calendars are endless")


def elapsed(calendar: BusinessCalendar, start: datetime, end: datetime, pauses: Sequence[Interval] = ()) -> timedelta:
    """Countable time between ``start`` and ``end``."""
    total = timedelta()
    if end <= start:
        return total
    for interval in calendar.open_intervals(start):
        if interval[0] >= end:
            break
        for begin, finish in _minus((interval[0], min(interval[1], end)), pauses):
            total += finish - begin
    return total
