"""Evidence routing: candidate tickets ranked by fit (time, device, fault type), recency only breaking ties;
bundles that fit nothing wait and are offered; every move is audited. Pure ranking plus the real server."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.attach import Match, TicketSpan, TimeFit, best_fit, fit
from collector.models import Role
from shared.models import CaptureWindow, Trigger, TriggerKind
from tests.collector.conftest import NOW, Collector

HOUR = timedelta(hours=1)
SLACK, LOOKBACK = timedelta(hours=6), timedelta(days=14)


def _window(start_h: float, end_h: float) -> CaptureWindow:
    return CaptureWindow(start=NOW + start_h * HOUR, end=NOW + end_h * HOUR)


def test_a_stated_time_the_window_covers_beats_a_newer_ticket_that_states_none() -> None:
    stated = TicketSpan(1, NOW + 2 * HOUR, NOW, NOW + 0.5 * HOUR, device="curtain")
    newer_silent = TicketSpan(2, NOW + 3 * HOUR, device="curtain")
    chosen = best_fit(
        _window(-0.5, 0.25), [stated, newer_silent], slack=SLACK, lookback=LOOKBACK, signature="router_reboot"
    )
    assert chosen is not None and chosen[0] == 1 and chosen[1].time is TimeFit.COVERS


def test_the_device_and_the_fault_type_rank_before_recency() -> None:
    plug = TicketSpan(1, NOW, device="Kitchen plug", fault_type="hardware")
    camera = TicketSpan(2, NOW + HOUR, device="hall camera", fault_type="network")
    window = _window(2, 3)
    found = best_fit(window, [plug, camera], slack=SLACK, lookback=LOOKBACK, signature="device_offline:kitchen-plug")
    assert found is not None and found[0] == 1
    # no device named: the fault type decides; none of either: the newer ticket
    assert best_fit(window, [plug, camera], slack=SLACK, lookback=LOOKBACK, signature="wan_outage")[0] == 2  # type: ignore[index]
    assert best_fit(window, [plug, camera], slack=SLACK, lookback=LOOKBACK, signature=None)[0] == 2  # type: ignore[index]
    # a device id that does not match the customer's words is no evidence against the ticket
    how = fit(window, "device_offline:0x00158d0001", plug, slack=SLACK, lookback=LOOKBACK)
    assert how is not None and how.device is Match.UNKNOWN


spans = st.builds(
    TicketSpan,
    ticket_id=st.integers(1, 50),
    created_at=st.integers(-48, 48).map(lambda h: NOW + h * HOUR),
    occurred_from=st.one_of(st.none(), st.integers(-48, 48).map(lambda h: NOW + h * HOUR)),
    device=st.sampled_from([None, "kitchen plug", "hall camera"]),
    fault_type=st.sampled_from([None, "network", "hardware"]),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(spans, max_size=6, unique_by=lambda s: s.ticket_id),
    st.integers(-50, 50),
    st.sampled_from([None, "router_reboot", "device_offline:kitchen-plug", "device_crash_loop:hall-camera"]),
)
def test_recency_never_beats_a_better_fit(tickets: list[TicketSpan], start_h: int, signature: str | None) -> None:
    window = _window(start_h, start_h + 1)
    chosen = best_fit(window, tickets, slack=SLACK, lookback=LOOKBACK, signature=signature)
    scored = {t.ticket_id: fit(window, signature, t, slack=SLACK, lookback=LOOKBACK) for t in tickets}
    if chosen is None:
        assert all(score is None for score in scored.values())
        return
    winner, how = chosen
    assert how == scored[winner]
    assert all(score is None or score <= how for score in scored.values())


async def test_waiting_bundles_are_offered_and_moves_are_audited(collector: Collector) -> None:
    eve = collector.user("eve", Role.ENGINEER)
    root = collector.user("root", Role.ADMIN)
    carol = collector.user("carol", Role.CUSTOMER, "hh-a")
    agent = await collector.enrol("hh-a")
    # ticket A states the fault time; the newer ticket B states none
    stated = {
        "household": "hh-a",
        "device": "curtain",
        "symptom": "no remote control",
        "when": "03:30",
        "priority": "P2",
        "occurred_from": (NOW - 24 * HOUR).isoformat(),
        "occurred_to": (NOW - 23.5 * HOUR).isoformat(),
    }
    _, a = await collector.call("POST", "/api/v1/tickets", carol, json=stated)
    collector.clock.advance(3600)
    _, b = await collector.call(
        "POST", "/api/v1/tickets", carol, json={**stated, "occurred_from": None, "occurred_to": None, "device": "hub"}
    )
    _, bundle, _ = await collector.upload(agent.bundle(start=NOW - 24 * HOUR, end=NOW - 23 * HOUR))
    assert bundle["ticket_id"] == a["id"]
    # a bundle from long before both: fits nothing, waits, and is offered on the household's tickets
    _, stray, _ = await collector.upload(
        agent.bundle(start=NOW - 30 * 24 * HOUR, trigger=Trigger(kind=TriggerKind.MANUAL))
    )
    assert stray["ticket_id"] is None
    _, shown = await collector.call("GET", f"/api/v1/tickets/{b['id']}", eve)
    assert [o["bundle_id"] for o in shown["offered_bundles"]] == [stray["bundle_id"]]
    _, seen_by_customer = await collector.call("GET", f"/api/v1/tickets/{b['id']}", carol)
    assert "offered_bundles" not in seen_by_customer
    assert (
        await collector.call(
            "POST",
            f"/api/v1/tickets/{b['id']}/bundles",
            carol,
            json={"bundle_id": stray["bundle_id"], "reason": "mine"},
        )
    )[0] == 403
    status, moved = await collector.call(
        "POST",
        f"/api/v1/tickets/{b['id']}/bundles",
        eve,
        json={"bundle_id": bundle["bundle_id"], "reason": "the hub restarted, not the curtain"},
    )
    assert status == 201 and moved["ticket_id"] == b["id"]
    _, a_now = await collector.call("GET", f"/api/v1/tickets/{a['id']}", eve)
    assert a_now["bundles"] == [] and a_now["events"][-1]["kind"] == "bundle_detached"
    _, audit = await collector.call("GET", f"/api/v1/audit?target={bundle['bundle_id']}", root)
    oldest_first = audit["entries"][::-1]
    actions = [(e["action"], e["actor"]) for e in oldest_first]
    assert actions[0] == ("bundle.attach", agent.agent_id)  # the automatic attach, saying how it fits
    assert oldest_first[0]["detail"]["fit"].startswith("time covers")
    assert ("bundle.move", "eve") in actions and ("bundle.attach", "eve") in actions
    assert (
        await collector.call(
            "POST",
            f"/api/v1/tickets/{b['id']}/bundles",
            eve,
            json={"bundle_id": bundle["bundle_id"], "reason": "again"},
        )
    )[0] == 409
