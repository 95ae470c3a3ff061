"""The service-level rules through the real server, travelling through days with the injectable clock:
what counts as a response, frozen outcomes, the 72-hour rule, complaints and follow-ups."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from collector.models import Role
from collector.state import SCANNER
from tests.collector.conftest import Collector

INTAKE = {"household": "hh-a", "device": "alarm", "symptom": "siren at night", "when": "now", "priority": "P1"}
MINUTE, HOUR, DAY = 60, 3600, 86400


class Desk:
    def __init__(self, c: Collector) -> None:
        self.c = c
        self.eve = c.user("eve", Role.ENGINEER)
        self.carol = c.user("carol", Role.CUSTOMER, "hh-a")

    async def open(self, **fields: Any) -> int:
        status, ticket = await self.c.call("POST", "/api/v1/tickets", self.carol, json={**INTAKE, **fields})
        assert status == 201
        return int(ticket["id"])

    async def post(self, tid: int, what: str, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
        return await self.c.call("POST", f"/api/v1/tickets/{tid}/{what}", token or self.eve, json=body)

    async def clocks(self, tid: int) -> list[dict[str, Any]]:
        _, sla = await self.c.call("GET", f"/api/v1/tickets/{tid}/sla", self.eve)
        return sla["clocks"]

    async def clock(self, tid: int, target: str, ref: str | None = None) -> dict[str, Any]:
        return [c for c in await self.clocks(tid) if c["target"] == target and (ref is None or c["ref"] == ref)][-1]

    async def events(self, tid: int, kind: str, token: str | None = None) -> list[dict[str, Any]]:
        _, shown = await self.c.call("GET", f"/api/v1/tickets/{tid}", token or self.eve)
        return [e for e in shown["events"] if e["kind"] == kind]

    async def scan(self) -> int:
        return int(await self.c.client.app[SCANNER].scan())


async def test_only_customer_visible_communication_is_a_response(collector: Collector) -> None:
    desk = Desk(collector)
    tid = await desk.open()
    collector.clock.advance(5 * MINUTE)
    assert (await desk.post(tid, "transition", {"to": "waiting_customer"}))[0] == 201  # silent
    assert (await desk.post(tid, "notes", {"text": "checked the logs"}))[0] == 201  # internal by default
    assert (await desk.clock(tid, "first_response"))["state"] == "paused"
    assert (await desk.post(tid, "transition", {"to": "diagnosing", "note": "customer sounded drunk"}))[0] == 201
    collector.clock.advance(40 * MINUTE)
    assert (await desk.clock(tid, "first_response"))["state"] == "breached"
    status, reply = await desk.post(
        tid, "notes", {"text": "we are on it: level P1, next update by 10:00", "visibility": "public"}
    )
    assert status == 201 and reply["kind"] == "public_reply"
    first = await desk.clock(tid, "first_response")
    assert first["state"] == "met_late" and datetime.fromisoformat(first["met_at"]) == datetime.fromisoformat(
        reply["ts"]
    )
    # internal notes do not keep the update clock green
    for _ in range(3):
        collector.clock.advance(25 * MINUTE)
        await desk.post(tid, "notes", {"text": "still digging", "visibility": "internal"})
    missed = [c for c in await desk.clocks(tid) if c["target"] == "update" and c["state"] == "breached"]
    assert len(missed) == 1 and datetime.fromisoformat(missed[0]["due"]) == datetime.fromisoformat(
        reply["ts"]
    ) + timedelta(hours=1)
    # and the customer never sees them
    assert await desk.events(tid, "internal_note", desk.carol) == []
    assert [e["data"]["note"] for e in await desk.events(tid, "transition", desk.carol)] == [None, None]
    assert len(await desk.events(tid, "internal_note")) == 4
    assert (await desk.post(tid, "notes", {"text": "x", "visibility": "internal"}, desk.carol))[0] == 400


async def test_outcomes_are_frozen_and_a_resolved_ticket_accrues_no_breach(collector: Collector) -> None:
    desk = Desk(collector)
    tid = await desk.open()
    collector.clock.advance(45 * MINUTE)
    assert await desk.scan() >= 1
    # downgrading the unanswered P1 keeps its first-response breach; open targets are re-planned at P3
    assert (await desk.post(tid, "priority", {"priority": "P3", "reason": "not an emergency after all"}))[0] == 201
    assert (await desk.clock(tid, "first_response"))["state"] == "breached"
    await desk.post(tid, "updates", {"text": "level P3: a guide is on its way, expected tomorrow"})
    assert (await desk.clock(tid, "first_response"))["state"] == "met_late"
    await desk.post(tid, "transition", {"to": "diagnosing"})
    await desk.post(tid, "transition", {"to": "resolved"})
    recorded = len(await desk.events(tid, "sla_breached"))
    collector.clock.advance(DAY + 5 * HOUR)
    await desk.scan()
    assert len(await desk.events(tid, "sla_breached")) == recorded  # nothing new on the resolved ticket
    shown = await desk.clocks(tid)
    assert {c["target"] for c in shown if c["seconds_left"] is not None} == {"follow_up"}  # nothing else runs
    assert {c["target"]: c["state"] for c in shown}["fix"] == "met"


async def test_a_paused_ticket_still_needs_an_update_every_72_hours(collector: Collector) -> None:
    desk = Desk(collector)
    tid = await desk.open(priority="P3")
    await desk.post(tid, "updates", {"text": "level P3: we need your router model; we will check again in 3 days"})
    await desk.post(tid, "transition", {"to": "waiting_customer"})
    collector.clock.advance(60 * HOUR)
    assert (await desk.clock(tid, "update"))["state"] == "paused"
    assert (await desk.clock(tid, "update_72h"))["state"] == "warning"
    await desk.scan()
    assert [e["data"]["target"] for e in await desk.events(tid, "sla_warning")] == ["update_72h"]
    collector.clock.advance(13 * HOUR)
    await desk.scan()
    assert [e["data"]["target"] for e in await desk.events(tid, "sla_breached")] == ["update_72h"]
    await desk.post(tid, "notes", {"text": "still waiting for your router model", "visibility": "public"})
    assert (await desk.clock(tid, "update_72h"))["state"] == "running"


async def test_every_complaint_has_its_own_clocks_and_closing_needs_the_report(collector: Collector) -> None:
    desk = Desk(collector)
    tid = await desk.open(priority="P2")
    _, first = await desk.post(tid, "complaints", {"text": "nobody called back"}, desk.carol)
    collector.clock.advance(3 * HOUR)
    _, second = await desk.post(tid, "complaints", {"text": "and now the app is down too"}, desk.carol)
    assert (await desk.post(tid, "complaints/milestones", {"name": "ack"}))[0] == 201  # the oldest open one
    assert (await desk.post(tid, "complaints/milestones", {"name": "ack", "complaint_id": second["id"]}))[0] == 201
    first_ack, second_ack = (
        await desk.clock(tid, "complaint_ack", str(first["id"])),
        await desk.clock(tid, "complaint_ack", str(second["id"])),
    )
    assert (first_ack["state"], second_ack["state"]) == ("met_late", "met")
    status, refused = await desk.post(tid, "complaints/milestones", {"name": "close", "complaint_id": second["id"]})
    assert status == 400 and refused["error"]["code"] == "report_required"
    report = {
        "name": "close",
        "complaint_id": second["id"],
        "report": "outage of our push service; fixed; apology sent",
    }
    assert (await desk.post(tid, "complaints/milestones", report))[0] == 201
    assert (await desk.clock(tid, "complaint_close", str(second["id"])))["state"] == "met"
    assert (await desk.clock(tid, "complaint_plan", str(second["id"])))["state"] == "stopped"
    assert (await desk.clock(tid, "complaint_close", str(first["id"])))["seconds_left"] is not None  # still open
    assert (await desk.post(tid, "complaints/milestones", report))[0] == 409


async def test_follow_ups_are_deadlines_early_ones_are_marked_and_the_last_closes(collector: Collector) -> None:
    desk = Desk(collector)
    tid = await desk.open()
    await desk.post(tid, "updates", {"text": "level P1: engineer assigned, update within the hour"})
    await desk.post(tid, "transition", {"to": "diagnosing"})
    await desk.post(tid, "transition", {"to": "resolved"})
    _, queue = await collector.call("GET", "/api/v1/queue", desk.eve)
    entry = next(t for t in queue["tickets"] if t["id"] == tid)
    assert entry["next_due"]["target"] == "follow_up" and entry["next_due"]["ref"] == "1"
    collector.clock.advance(DAY + HOUR)
    assert (await desk.clock(tid, "follow_up", "1"))["state"] == "warning"  # its date has come
    await desk.scan()
    assert [e["data"]["target"] for e in await desk.events(tid, "sla_warning")] == ["follow_up"]
    await desk.post(tid, "follow-ups", {"satisfaction": 5}, desk.carol)
    collector.clock.advance(DAY)  # day 2: the second follow-up (day 3) is early
    _, early = await desk.post(tid, "follow-ups", {"satisfaction": 4}, desk.carol)
    assert early["data"]["early"] is True and (await desk.clock(tid, "follow_up", "2"))["state"] == "early"
    collector.clock.advance(6 * DAY)
    await desk.post(tid, "follow-ups", {"satisfaction": 5}, desk.carol)
    _, shown = await collector.call("GET", f"/api/v1/tickets/{tid}", desk.eve)
    assert shown["state"] == "closed"
    assert (await desk.post(tid, "follow-ups", {"satisfaction": 5}, desk.carol))[0] == 409


async def test_bad_report_and_audit_queries_are_clear_errors(collector: Collector) -> None:
    desk = Desk(collector)
    root = collector.user("root", Role.ADMIN)
    for month in ("0001-06", "2026-13", "26-1", "x", "9999-12"):
        status, answer = await collector.call("GET", f"/api/v1/reports/monthly?month={month}", desk.eve)
        # A month the OpenAPI pattern already refuses is a parameter error; a well-formed but impossible one the report's.
        assert status == 400 and answer["error"]["code"] in ("parameter_invalid", "bad_request"), month
    assert (await collector.call("GET", "/api/v1/audit?limit=lots", root))[0] == 400
