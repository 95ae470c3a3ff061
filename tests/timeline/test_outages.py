"""Outage classification over hand-written timelines: each network fault has its own shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.outages import Outage, classify, outages
from shared.models import EventKind, EventState, RootCause, TimelineEvent

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def ev(seconds: float, kind: EventKind, state: EventState) -> TimelineEvent:
    return TimelineEvent(ts=T0 + timedelta(seconds=seconds), kind=kind, state=state, source="test")


def transitions(down: list[EventKind], at: float, back: float) -> list[TimelineEvent]:
    return [ev(at + i * 0.1, kind, EventState.DOWN) for i, kind in enumerate(down)] + [
        ev(back + i * 0.1, kind, EventState.UP) for i, kind in enumerate(down)
    ]


ALL = [EventKind.HUB_LINK, EventKind.GATEWAY, EventKind.DNS, EventKind.INTERNET]


@pytest.mark.parametrize(
    ("down", "cause"),
    [
        (ALL, RootCause.ROUTER_REBOOT),
        ([EventKind.GATEWAY, EventKind.DNS, EventKind.INTERNET], RootCause.ROUTER_REBOOT),  # Wi-Fi hub keeps carrier
        ([EventKind.INTERNET, EventKind.DNS], RootCause.WAN_OUTAGE),
        ([EventKind.INTERNET], RootCause.WAN_OUTAGE),
        ([EventKind.DNS], RootCause.DNS_FAILURE),
        ([EventKind.BROKER], RootCause.BROKER_DOWN),
    ],
)
def test_each_outage_shape_has_its_cause(down: list[EventKind], cause: RootCause) -> None:
    (outage,) = outages(transitions(down, 10, 30))
    assert outage.start == T0 + timedelta(seconds=10)
    assert outage.duration is not None and outage.duration.total_seconds() == pytest.approx(20 + 0.1 * (len(down) - 1))
    assert classify(outage) is cause


def test_a_long_hub_link_loss_without_router_boot_is_the_hub() -> None:
    (outage,) = outages(transitions(ALL, 0, 3600))
    assert classify(outage) is RootCause.HUB_LINK_DOWN
    with_boot = outages([*transitions(ALL, 0, 3600), ev(1800, EventKind.ROUTER_BOOT_ID, EventState.CHANGED)])
    assert classify(with_boot[0]) is RootCause.ROUTER_REBOOT


def test_the_routers_answer_just_after_the_outage_tells_a_pulled_cable_from_a_reboot() -> None:
    (cable,) = outages(
        [
            ev(0, EventKind.ROUTER_BOOT_ID, EventState.SEEN),
            *transitions(ALL, 10, 30),
            ev(33, EventKind.ROUTER_BOOT_ID, EventState.SAME),
        ]
    )
    assert cable.router_stayed_up and classify(cable) is RootCause.HUB_LINK_DOWN
    (reboot,) = outages([*transitions(ALL, 10, 30), ev(36, EventKind.ROUTER_BOOT_ID, EventState.CHANGED)])
    assert reboot.boot_id_changed and classify(reboot) is RootCause.ROUTER_REBOOT
    (later,) = outages([*transitions(ALL, 10, 30), ev(300, EventKind.ROUTER_BOOT_ID, EventState.SAME)])
    assert classify(later) is RootCause.ROUTER_REBOOT  # an answer long after says nothing about this outage


def test_boot_id_change_is_noted_only_inside_an_outage_and_seen_is_not_a_change() -> None:
    events = [
        ev(0, EventKind.ROUTER_BOOT_ID, EventState.SEEN),
        *transitions(ALL, 10, 30),
        ev(20, EventKind.ROUTER_BOOT_ID, EventState.CHANGED),
    ]
    (outage,) = outages(events)
    assert outage.boot_id_changed
    (quiet,) = outages([ev(5, EventKind.ROUTER_BOOT_ID, EventState.CHANGED), *transitions(ALL, 10, 30)])
    assert not quiet.boot_id_changed


def test_a_router_saying_goodbye_first_is_a_scheduled_reboot() -> None:
    (outage,) = outages([ev(8, EventKind.ROUTER_BOOT_ID, EventState.BYEBYE), *transitions(ALL, 10, 30)])
    assert classify(outage) is RootCause.ROUTER_SCHEDULED_REBOOT
    (long_ago,) = outages([ev(-3600, EventKind.ROUTER_BOOT_ID, EventState.BYEBYE), *transitions(ALL, 10, 30)])
    assert classify(long_ago) is RootCause.ROUTER_REBOOT


def test_an_outage_still_going_has_no_end_and_separate_outages_stay_separate() -> None:
    events = [*transitions([EventKind.DNS], 0, 5), ev(100, EventKind.INTERNET, EventState.DOWN)]
    first, second = outages(events)
    assert classify(first) is RootCause.DNS_FAILURE
    assert second.end is None and second.duration is None and second.down == frozenset({"internet"})


def test_non_network_events_and_baselines_are_ignored() -> None:
    events = [ev(0, kind, EventState.UP) for kind in ALL] + [ev(1, EventKind.DEVICE_AVAILABILITY, EventState.OFFLINE)]
    assert outages(events) == []
    assert classify(Outage(T0, None, frozenset({"gateway"}))) is RootCause.ROUTER_REBOOT
