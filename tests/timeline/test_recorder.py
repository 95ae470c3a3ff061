"""The flight recorder: bounded, persisted, readable after a restart or a torn write."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.config import RecorderConfig
from agent.recorder import FlightRecorder, RecorderLogHandler
from shared.models import EventKind, EventState, LogLine, TimelineEvent
from tests.conftest import SmallDisk

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def ev(seconds: float, state: EventState = EventState.DOWN) -> TimelineEvent:
    return TimelineEvent(ts=T0 + timedelta(seconds=seconds), kind=EventKind.GATEWAY, state=state, source="test")


def recorder(path: Path, now: datetime = T0, **caps: float) -> FlightRecorder:
    return FlightRecorder(path, RecorderConfig.model_validate(caps), now=lambda: now)


def test_records_survive_a_restart_and_are_queried_by_time(tmp_path: Path) -> None:
    first = recorder(tmp_path)
    seen: list[TimelineEvent] = []
    first.subscribe(seen.append)
    first.extend([ev(0), ev(10, EventState.UP), ev(20)])
    first.log(LogLine(ts=T0, source="zigbee2mqtt", level="info", message="bridge online"))
    assert seen == first.events()
    first.sync()
    first.close()
    second = recorder(tmp_path)
    assert second.events() == seen
    assert second.events(since=T0 + timedelta(seconds=5), until=T0 + timedelta(seconds=15)) == [ev(10, EventState.UP)]
    assert [line.message for line in second.logs()] == ["bridge online"]
    second.close()


def test_caps_on_count_and_age(tmp_path: Path) -> None:
    first = recorder(tmp_path, max_events=100, max_age_s=3600)
    first.extend(ev(i) for i in range(250))  # the file is compacted past twice the cap
    assert len(first.events()) == 100 and first.events()[0] == ev(150)
    first.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(lines) <= 200
    later = recorder(tmp_path, T0 + timedelta(seconds=3600 + 200), max_events=100, max_age_s=3600)
    assert [e.ts for e in later.events()] == [ev(i).ts for i in range(200, 250)]  # older than max_age_s: gone
    later.close()
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 50


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    first = recorder(tmp_path)
    first.extend([ev(0), ev(1)])
    first.close()
    with open(tmp_path / "events.jsonl", "a") as handle:
        handle.write('{"ts": "2026-11-25T03:00:02Z", "ki')  # power cut mid-write
    second = recorder(tmp_path)
    assert second.events() == [ev(0), ev(1)]
    second.event(ev(3))
    second.close()
    third = recorder(tmp_path)
    assert third.events() == [ev(0), ev(1), ev(3)]
    third.close()


def test_the_agents_own_log_goes_into_the_log_ring(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    handler = RecorderLogHandler(rec, now=lambda: T0)
    logger = logging.getLogger("agent.test_recorder")
    logger.addHandler(handler)
    try:
        logger.warning("gateway %s silent", "10.77.0.1")
        logger.debug("not kept")
    finally:
        logger.removeHandler(handler)
        rec.close()
    (line,) = rec.logs()
    assert (line.source, line.level, line.message) == (
        "agent",
        "warning",
        "agent.test_recorder: gateway 10.77.0.1 silent",
    )


def test_a_full_disk_loses_nothing_the_rings_hold(small_disk: SmallDisk) -> None:
    directory = small_disk.path / "recorder"
    first = recorder(directory)
    first.extend([ev(0), ev(1)])
    small_disk.fill()
    handler = RecorderLogHandler(first, lambda: T0)  # the warning about the disk goes to a (full) ring too
    logging.getLogger("agent").addHandler(handler)
    try:
        first.extend(ev(i) for i in range(2, 400))  # no error reaches the caller
    finally:
        logging.getLogger("agent").removeHandler(handler)
    assert first.unsaved > 0 and first.events() == [ev(i) for i in range(400)]
    assert any("refused" in line.message for line in first.logs())
    first.sync()  # still full: nothing raised, still in memory
    assert first.unsaved > 0
    small_disk.free()
    first.sync()
    assert first.unsaved == 0
    first.log(LogLine(ts=T0, source="test", message="after"))
    first.close()
    again = recorder(directory)
    assert again.events() == [ev(i) for i in range(400)] and again.logs()[-1].message == "after"
    again.close()
