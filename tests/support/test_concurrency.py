"""Concurrent changes through a real aiohttp server on loopback: compare-and-set inside the store's transaction."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any

from collector.models import Role
from collector.state import DB
from tests.collector.conftest import Collector

INTAKE = {"household": "hh-a", "device": "plug", "symptom": "off", "when": "now", "priority": "P2"}


async def together(c: Collector, calls: list[Awaitable[Any]]) -> list[Any]:
    """Send the requests at once while the store's thread is held, until every one of them waits on the store,
    so each reads the ticket before any of them writes."""
    db = c.client.app[DB]
    original, asked = db.run, 0
    all_asked = asyncio.Event()

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal asked
        asked += 1
        if asked == len(calls):
            all_asked.set()
        return await original(*args, **kwargs)

    gate = threading.Event()
    held = asyncio.create_task(original(lambda _store: gate.wait(10)))
    db.run = counted  # type: ignore[method-assign]
    try:
        sent = asyncio.gather(*calls)
        # Every request has reached the server and queued its first store call.
        await asyncio.wait_for(all_asked.wait(), 10)
        gate.set()
        await held
        return await sent
    finally:
        gate.set()
        del db.run


async def _kinds(c: Collector, token: str, tid: int, kind: str) -> list[dict]:
    _, shown = await c.call("GET", f"/api/v1/tickets/{tid}", token)
    return [e for e in shown["events"] if e["kind"] == kind]


async def test_of_concurrent_changes_from_the_same_state_one_wins(collector: Collector) -> None:
    eve = collector.user("eve", Role.ENGINEER)
    bob = collector.user("bob", Role.ENGINEER)
    _, ticket = await collector.call("POST", "/api/v1/tickets", eve, json=INTAKE)
    tid = ticket["id"]
    moves = [(eve, "diagnosing"), (bob, "waiting_customer"), (eve, "triaged"), (bob, "diagnosing")]
    answers = await together(
        collector,
        [collector.call("POST", f"/api/v1/tickets/{tid}/transition", token, json={"to": to}) for token, to in moves],
    )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201, 409, 409, 409], answers
    assert {body["error"]["code"] for status, body in answers if status == 409} == {"ticket_changed"}
    transitions = await _kinds(collector, eve, tid, "transition")
    assert len(transitions) == 1 and transitions[0]["data"]["from"] == "new"
    _, shown = await collector.call("GET", f"/api/v1/tickets/{tid}", eve)
    assert shown["state"] == transitions[0]["data"]["to"]  # the projection and the log agree


async def test_resolution_and_its_follow_ups_are_one_write_and_follow_ups_race_safely(collector: Collector) -> None:
    eve = collector.user("eve", Role.ENGINEER)
    carol = collector.user("carol", Role.CUSTOMER, "hh-a")
    _, ticket = await collector.call("POST", "/api/v1/tickets", eve, json={**INTAKE, "priority": "P1"})
    tid = ticket["id"]
    await collector.call("POST", f"/api/v1/tickets/{tid}/transition", eve, json={"to": "diagnosing"})
    answers = await together(
        collector,
        [collector.call("POST", f"/api/v1/tickets/{tid}/transition", eve, json={"to": "resolved"}) for _ in range(3)],
    )
    assert sorted(status for status, _ in answers) == [201, 409, 409]
    scheduled = await _kinds(collector, eve, tid, "follow_up_scheduled")
    assert [e["data"]["index"] for e in scheduled] == [1, 2, 3]  # one resolution, one schedule, same transaction
    resolution = (await _kinds(collector, eve, tid, "transition"))[-1]
    assert all(e["ts"] == resolution["ts"] and e["id"] > resolution["id"] for e in scheduled)
    collector.clock.advance(86400)
    answers = await together(
        collector,
        [
            collector.call("POST", f"/api/v1/tickets/{tid}/follow-ups", carol, json={"satisfaction": 4})
            for _ in range(3)
        ],
    )
    assert sorted(status for status, _ in answers) == [201, 409, 409]
    follow_ups = await _kinds(collector, eve, tid, "follow_up")
    assert [(e["data"]["index"], e["data"]["early"]) for e in follow_ups] == [(1, False)]


async def test_concurrent_priority_changes_and_complaint_closures(collector: Collector) -> None:
    eve = collector.user("eve", Role.ENGINEER)
    carol = collector.user("carol", Role.CUSTOMER, "hh-a")
    _, ticket = await collector.call("POST", "/api/v1/tickets", eve, json=INTAKE)
    tid = ticket["id"]
    answers = await together(
        collector,
        [
            collector.call("POST", f"/api/v1/tickets/{tid}/priority", eve, json={"priority": p, "reason": "r"})
            for p in ("P1", "P3")
        ],
    )
    assert sorted(status for status, _ in answers) == [201, 409]
    await collector.call("POST", f"/api/v1/tickets/{tid}/complaints", carol, json={"text": "slow"})
    close = {"name": "close", "report": "called back, apologised, root cause explained"}
    answers = await together(
        collector,
        [collector.call("POST", f"/api/v1/tickets/{tid}/complaints/milestones", eve, json=close) for _ in range(2)],
    )
    assert sorted(status for status, _ in answers) == [201, 409]
    assert len(await _kinds(collector, eve, tid, "complaint_milestone")) == 1
