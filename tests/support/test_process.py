"""The support process through the API, travelling through days with the injectable clock."""

from __future__ import annotations

import pytest

from collector.models import Role
from collector.state import SCANNER
from tests.collector.conftest import NOW, Collector

INTAKE = {"household": "hh-a", "device": "curtain", "symptom": "no remote control", "when": "nightly", "priority": "P1"}


async def _ticket(c: Collector, token: str, **fields: object) -> dict:
    status, ticket = await c.call("POST", "/api/v1/tickets", token, json={**INTAKE, **fields})
    assert status == 201, ticket
    return ticket


async def test_lifecycle_follow_ups_and_reopening(collector: Collector) -> None:
    eve = collector.user("eve", Role.ENGINEER)
    carol = collector.user("carol", Role.CUSTOMER, "hh-a")
    ticket = await _ticket(collector, carol)
    tid = ticket["id"]
    assert ticket["group"] == "emergency"  # P1 routes to the emergency group

    async def move(to: str, token: str = eve, **extra: object) -> tuple[int, dict]:
        return await collector.call("POST", f"/api/v1/tickets/{tid}/transition", token, json={"to": to, **extra})

    assert (await move("resolved"))[0] == 409  # not from new
    assert (await move("diagnosing", carol))[0] == 403  # customers only confirm
    assert (await move("diagnosing"))[0] == 201
    assert (await collector.call("POST", f"/api/v1/tickets/{tid}/milestones", eve, json={"name": "root_cause_found"}))[
        0
    ] == 201
    assert (await move("solution", solution="configuration"))[0] == 201
    assert (await move("awaiting_confirmation"))[0] == 201
    assert (await move("resolved", carol))[0] == 201  # the customer confirms the fix
    _, shown = await collector.call("GET", f"/api/v1/tickets/{tid}", eve)
    assert [e["data"]["index"] for e in shown["events"] if e["kind"] == "follow_up_scheduled"] == [1, 2, 3]
    collector.clock.advance(86400)
    status, _ = await collector.call("POST", f"/api/v1/tickets/{tid}/follow-ups", carol, json={"satisfaction": 5})
    assert status == 201
    collector.clock.advance(2 * 86400)
    await collector.call("POST", f"/api/v1/tickets/{tid}/follow-ups", carol, json={"satisfaction": 2, "recurred": True})
    _, shown = await collector.call("GET", f"/api/v1/tickets/{tid}", eve)
    assert shown["state"] == "diagnosing"  # it came back: reopened into diagnosis


async def test_breaches_are_recorded_when_detected_and_the_queue_is_ordered(collector: Collector) -> None:
    eve = collector.user("eve", Role.ENGINEER)
    p3 = await _ticket(collector, eve, priority="P3")
    p1 = await _ticket(collector, eve, priority="P1")
    _, queue = await collector.call("GET", "/api/v1/queue", eve)
    assert [t["id"] for t in queue["tickets"]] == [p1["id"], p3["id"]]  # the P1's first response is due first
    collector.clock.advance(45 * 60)
    scanner = collector.client.app[SCANNER]
    assert await scanner.scan() >= 1
    assert await scanner.scan() == 0  # recorded once
    _, shown = await collector.call("GET", f"/api/v1/tickets/{p1['id']}", eve)
    breach = next(e for e in shown["events"] if e["kind"] == "sla_breached")
    assert breach["data"]["target"] == "first_response" and breach["ts"] > breach["data"]["due"]  # never back-dated
    status, sla = await collector.call("GET", f"/api/v1/tickets/{p1['id']}/sla", eve)
    assert {c["target"]: c["state"] for c in sla["clocks"]}["first_response"] == "breached"
    status, _ = await collector.call(
        "POST", f"/api/v1/tickets/{p3['id']}/priority", eve, json={"priority": "P1", "reason": "alarm"}
    )
    assert status == 201


async def test_monthly_report_on_a_seeded_month(collector: Collector) -> None:
    eve = collector.user("eve", Role.ENGINEER)
    carol = collector.user("carol", Role.CUSTOMER, "hh-a")
    for index, (priority, satisfaction) in enumerate([("P1", 5), ("P1", 3), ("P2", 4)]):
        ticket = await _ticket(collector, carol, priority=priority, device=f"plug-{index}")
        tid = ticket["id"]
        await collector.call("POST", f"/api/v1/tickets/{tid}/updates", eve, json={"text": "looking"})
        await collector.call(
            "POST",
            f"/api/v1/tickets/{tid}/classify",
            eve,
            json={"type": "network", "cause": "router", "impact": "remote control lost"},
        )
        await collector.call("POST", f"/api/v1/tickets/{tid}/transition", eve, json={"to": "diagnosing"})
        await collector.call("POST", f"/api/v1/tickets/{tid}/milestones", eve, json={"name": "root_cause_found"})
        await collector.call("POST", f"/api/v1/tickets/{tid}/transition", eve, json={"to": "resolved"})
        await collector.call("POST", f"/api/v1/tickets/{tid}/follow-ups", carol, json={"satisfaction": satisfaction})
        collector.clock.advance(3600)
    await collector.call("POST", f"/api/v1/tickets/{tid}/complaints", carol, json={"text": "too slow"})
    status, report = await collector.call("GET", f"/api/v1/reports/monthly?month={NOW:%Y-%m}", eve)
    assert status == 200 and report["totals"]["tickets_opened"] == 3
    rows = {(r["priority"], r["fault_type"]): r for r in report["rows"]}
    p1 = rows[("P1", "network")]
    assert p1["tickets_opened"] == 2 and p1["first_response_on_time_pct"] == 100.0
    assert p1["resolution_rate_pct"] == 100.0  # resolved, awaiting their follow-ups
    assert p1["csat_average_per_response"] == 4.0 and p1["csat_4_or_5_pct"] == 50.0
    assert p1["follow_ups_early"] == 2  # recorded the same day, before their dates
    assert rows[("P2", "network")]["complaints"] == 1
    assert report["hot_spots"]["hour_of_day"]
    status, csv_text = await collector.call("GET", f"/api/v1/reports/monthly?month={NOW:%Y-%m}&format=csv", eve)
    assert status == 200 and csv_text.decode().startswith("month,priority,fault_type,tickets_opened")


@pytest.mark.parametrize("role", ["customer-a", "customer-b", "partner-assigned", "partner-other", "engineer", "admin"])
async def test_every_role_against_every_endpoint_class(collector: Collector, role: str) -> None:
    eve = collector.user("eve", Role.ENGINEER)
    tokens = {
        "customer-a": collector.user("ca", Role.CUSTOMER, "hh-a"),
        "customer-b": collector.user("cb", Role.CUSTOMER, "hh-b"),
        "partner-assigned": collector.user("acme", Role.PARTNER),
        "partner-other": collector.user("other", Role.PARTNER),
        "engineer": eve,
        "admin": collector.user("root", Role.ADMIN),
    }
    ticket = await _ticket(collector, eve)
    tid = ticket["id"]
    await collector.call("POST", f"/api/v1/tickets/{tid}/assign", eve, json={"partner": "acme"})
    token = tokens[role]
    sees = role in ("customer-a", "partner-assigned", "engineer", "admin")
    read = (await collector.call("GET", f"/api/v1/tickets/{tid}", token))[0]
    assert read == (200 if sees else 404)
    listed = (await collector.call("GET", "/api/v1/tickets", token))[1]["tickets"]
    assert bool(listed) == sees
    work = (await collector.call("POST", f"/api/v1/tickets/{tid}/milestones", token, json={"name": "in_progress"}))[0]
    assert work == (201 if role in ("partner-assigned", "engineer", "admin") else 403 if sees else 404)
    assert (await collector.call("GET", "/api/v1/queue", token))[0] == (403 if role.startswith("customer") else 200)
    assert (await collector.call("GET", "/api/v1/reports/monthly", token))[0] == (
        200 if role in ("engineer", "admin") else 403
    )
    assert (await collector.call("GET", "/api/v1/audit", token))[0] == (200 if role == "admin" else 403)
    assign = (await collector.call("POST", f"/api/v1/tickets/{tid}/assign", token, json={"group": "x"}))[0]
    assert assign == (201 if role in ("engineer", "admin") else 403 if sees else 404)
