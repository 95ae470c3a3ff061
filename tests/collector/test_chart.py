"""The timeline chart, as pure SVG text: outages shaded per lane, a broker refusing the hub included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.web.chart import timeline_svg
from shared.models import EventKind, EventState, TimelineEvent

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def ev(seconds: float, kind: EventKind, state: EventState) -> TimelineEvent:
    return TimelineEvent(ts=T0 + timedelta(seconds=seconds), kind=kind, state=state, source="test")


def test_outages_and_refusals_are_shaded_with_what_happened() -> None:
    svg = timeline_svg(
        [
            ev(10, EventKind.GATEWAY, EventState.DOWN),
            ev(30, EventKind.GATEWAY, EventState.UP),
            ev(60, EventKind.BROKER, EventState.REFUSED),
            ev(90, EventKind.BROKER, EventState.ACCEPTED),
            ev(100, EventKind.DNS, EventState.DOWN),
        ],
        T0,
        T0 + timedelta(minutes=2),
    )
    assert svg.count('class="outage"') == 3
    assert "gateway down 03:00:10–03:00:30" in svg
    assert "broker refused 03:01:00–03:01:30" in svg
    assert "dns down 03:01:40–03:02:00" in svg  # still down at the chart's end


def test_times_read_in_the_readers_zone_and_a_multi_day_axis_carries_dates() -> None:
    short = timeline_svg(
        [ev(10, EventKind.GATEWAY, EventState.DOWN), ev(30, EventKind.GATEWAY, EventState.UP)],
        T0,
        T0 + timedelta(minutes=2),
        zone="Asia/Shanghai",
    )
    assert "gateway down 11:00:10–11:00:30" in short and ">11:00:00</text>" in short and ">CST</text>" in short
    long = timeline_svg([], T0, T0 + timedelta(days=2), zone="Europe/Berlin")
    assert ">11-24 04:00</text>" in long and ">11-26 04:00</text>" in long and ">CET</text>" in long


def test_lanes_and_marks_in_the_readers_language() -> None:
    from collector.store.contacts import Language
    from collector.web.desk_text import words

    svg = timeline_svg(
        [ev(10, EventKind.BROKER, EventState.REFUSED), ev(30, EventKind.BROKER, EventState.ACCEPTED)],
        T0,
        T0 + timedelta(minutes=1),
        word=words(Language.ZH),
    )
    assert ">网关连接</text>" in svg and "消息服务器 拒绝登录 03:00:10–03:00:30" in svg
    assert 'data-lane="hub_link"' in svg  # the lane's name for scripts and tests stays as it was
