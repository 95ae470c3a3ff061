"""A generated month of tickets through the real server, and the monthly report checked against an independent
computation written here: minute-by-minute deadlines in the support organisation's time zone (Asia/Shanghai,
UTC+8, so the month starts at 16:00 UTC the day before), a public holiday, pauses, reopenings, complaints,
follow-ups early, on time and late. The seed is printed; set MONTH_SEED to replay one.
"""

from __future__ import annotations

import csv
import io
import os
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.models import Role
from tests.collector.conftest import Collector

ZONE = ZoneInfo("Asia/Shanghai")
HOLIDAY = date(2026, 12, 25)
MONTH_START = datetime(2026, 12, 1, tzinfo=ZONE)
MONTH_END = datetime(2027, 1, 1, tzinfo=ZONE)
FIRST_RESPONSE_MIN = {"P1": 30, "P2": 120, "P3": 240}
FOLLOW_UP_DAYS = {"P1": (1, 3, 7), "P2": (3,), "P3": (7,)}
MIN = timedelta(minutes=1)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"support": {"timezone": "Asia/Shanghai", "holidays": [HOLIDAY.isoformat()]}}


def countable(minute: datetime, priority: str, pauses: list[tuple[datetime, datetime]]) -> bool:
    if any(a <= minute < b for a, b in pauses):
        return False
    if priority == "P1":
        return True
    local = minute.astimezone(ZONE)
    return local.weekday() < 5 and local.date() != HOLIDAY and 9 <= local.hour < 18


def deadline(start: datetime, minutes: int, priority: str, pauses: list[tuple[datetime, datetime]]) -> datetime:
    t, used = start, 0
    while used < minutes:
        used += countable(t, priority, pauses)
        t += MIN
    return t


def counted_minutes(start: datetime, end: datetime, priority: str, pauses: list[tuple[datetime, datetime]]) -> int:
    return sum(countable(start + MIN * i, priority, pauses) for i in range(int((end - start) / MIN)))


@dataclass
class Plan:
    """One ticket's script, and what happened, as the test itself records it."""

    priority: str
    fault_type: str
    created: datetime
    reply: datetime | None
    pause: tuple[datetime, datetime] | None
    resolve: datetime | None
    reopen_at_first_follow_up: bool
    follow_up_shift: list[timedelta]  # when each follow-up is recorded, relative to its date
    complaint: tuple[datetime, timedelta | None] | None  # when, and how long until closed (None: never)
    scores: list[tuple[datetime, int]] = field(default_factory=list)
    follow_ups: list[tuple[datetime, datetime]] = field(default_factory=list)  # (date due, recorded at)
    missed_follow_ups: list[datetime] = field(default_factory=list)  # dates of follow-ups never recorded
    resolutions: list[datetime] = field(default_factory=list)
    reopened: datetime | None = None
    tid: int = 0


def generate(rng: random.Random) -> list[Plan]:
    plans = []
    starts = [
        datetime(2026, 11, 30, 15, 0, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 120)) for _ in range(4)
    ]  # the boundary
    starts += [datetime(2026, 11, 20, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 9 * 1440)) for _ in range(4)]
    starts += [datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 30 * 1440)) for _ in range(22)]
    for created in sorted(s.replace(second=0, microsecond=0) for s in starts):
        priority = rng.choice(["P1", "P2", "P3"])
        reply = created + timedelta(minutes=rng.randrange(2, rng.choice([40, 600]))) if rng.random() < 0.9 else None
        pause = None
        if rng.random() < 0.4:
            begin = created + timedelta(minutes=rng.randrange(1, 120))
            pause = (begin, begin + timedelta(minutes=rng.randrange(10, 48 * 60)))
        resolve = None
        if rng.random() < 0.8:
            resolve = max(created, reply or created, pause[1] if pause else created) + timedelta(
                minutes=rng.randrange(10, 3 * 1440)
            )
        shifts = [timedelta(minutes=rng.randrange(-1440, 3 * 1440)) for _ in FOLLOW_UP_DAYS[priority]]
        complaint = None
        if rng.random() < 0.3:
            complaint = (
                created + timedelta(minutes=rng.randrange(30, 1440)),
                timedelta(minutes=rng.randrange(60, 80 * 60)) if rng.random() < 0.85 else None,
            )
        plans.append(
            Plan(
                priority,
                rng.choice(["software", "hardware", "network", "human_error"]),
                created,
                reply,
                pause,
                resolve,
                rng.random() < 0.2,
                shifts,
                complaint,
            )
        )
    return plans


async def run(c: Collector, plans: list[Plan]) -> None:
    """Drive every plan through the API in time order."""
    eve, carol = c.user("eve", Role.ENGINEER), c.user("carol", Role.CUSTOMER, "hh-a")
    actions: list[tuple[datetime, int, Any]] = []

    def at(moment: datetime, action: Any) -> None:
        actions.append((moment, len(actions), action))

    async def post(plan: Plan, what: str, body: dict[str, Any], token: str = eve) -> dict[str, Any]:
        status, answer = await c.call("POST", f"/api/v1/tickets/{plan.tid}/{what}", token, json=body)
        assert status == 201, (what, body, answer)
        return answer

    for index, plan in enumerate(plans):

        async def create(plan: Plan = plan, index: int = index) -> None:
            status, ticket = await c.call(
                "POST",
                "/api/v1/tickets",
                carol,
                json={
                    "household": "hh-a",
                    "device": f"device-{index % 5}",
                    "symptom": "s",
                    "when": "w",
                    "priority": plan.priority,
                },
            )
            assert status == 201
            plan.tid = ticket["id"]
            await post(plan, "classify", {"type": plan.fault_type, "cause": "c", "impact": "i"})

        at(plan.created, create)
        if plan.pause:
            at(plan.pause[0], lambda plan=plan: post(plan, "transition", {"to": "waiting_customer"}))
            at(plan.pause[1], lambda plan=plan: post(plan, "transition", {"to": "diagnosing"}))
        if plan.reply:
            at(
                plan.reply,
                lambda plan=plan: post(
                    plan, "notes", {"text": "level, progress, expected time", "visibility": "public"}
                ),
            )
        if plan.resolve:
            at(plan.resolve, lambda plan=plan: resolve(plan))
        if plan.complaint:
            when, closing = plan.complaint
            at(when, lambda plan=plan: post(plan, "complaints", {"text": "too slow"}, carol))
            if closing is not None:
                at(
                    when + closing,
                    lambda plan=plan: post(plan, "complaints/milestones", {"name": "close", "report": "r"}),
                )

    async def resolve(plan: Plan) -> None:
        _, shown = await c.call("GET", f"/api/v1/tickets/{plan.tid}", eve)
        if shown["state"] == "new":
            await post(plan, "transition", {"to": "diagnosing"})
        await post(plan, "transition", {"to": "resolved"})
        plan.resolutions.append(c.clock())
        if len(plan.resolutions) > 1:  # after a reopening: the new round's follow-ups are never recorded
            plan.missed_follow_ups += [c.clock() + timedelta(days=d) for d in FOLLOW_UP_DAYS[plan.priority]]
            return
        recorded = c.clock()
        for days, shift in zip(FOLLOW_UP_DAYS[plan.priority], plan.follow_up_shift, strict=True):
            due = c.clock() + timedelta(days=days)
            recorded = max(due + shift, recorded + MIN)  # in order: each answers the next scheduled one
            at(recorded, lambda plan=plan, due=due: follow_up(plan, due))

    async def follow_up(plan: Plan, due: datetime) -> None:
        if plan.reopened is not None:
            return  # the reopening stopped the round's other follow-ups: they are no longer due
        score = 1 + (plan.tid * 7 + len(plan.scores)) % 5
        recurred = plan.reopen_at_first_follow_up and not plan.follow_ups
        await post(plan, "follow-ups", {"satisfaction": score, "recurred": recurred}, carol)
        plan.scores.append((c.clock(), score))
        plan.follow_ups.append((due, c.clock()))
        if recurred:
            plan.reopened = c.clock()
            at(c.clock() + timedelta(hours=5), lambda plan=plan: post_resolve_again(plan))

    async def post_resolve_again(plan: Plan) -> None:
        await resolve(plan)

    done = 0
    while done < len(actions):
        actions.sort(key=lambda a: (a[0], a[1]))
        moment, _, action = actions[done]
        if moment > c.clock():
            c.clock.advance((moment - c.clock()).total_seconds())
        await action()
        done += 1


def expected_month(
    plans: list[Plan], start: datetime, end: datetime, now: datetime
) -> dict[tuple[str, str], dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(list))

    def inside(moment: datetime) -> bool:
        return start <= moment < end and moment < now

    for plan in plans:
        row = rows[(plan.priority, plan.fault_type)]
        pauses = [plan.pause] if plan.pause else []
        if start <= plan.created < end:
            row["opened"].append(plan.tid)
            resolved_by_end = [r for r in plan.resolutions if r < end]
            reopened_by_end = plan.reopened is not None and plan.reopened < end
            finished = bool(resolved_by_end) and (not reopened_by_end or len(resolved_by_end) > 1)
            row["resolved"].append(finished)
        first_resolution = plan.resolutions[0] if plan.resolutions else None
        # the first-response target: met at the reply, missed at its deadline, dropped if resolved first;
        # pauses after it settled do not move its deadline
        settled_by = plan.reply if plan.reply and (first_resolution is None or plan.reply <= first_resolution) else None
        settles = settled_by or first_resolution
        due = deadline(
            plan.created,
            FIRST_RESPONSE_MIN[plan.priority],
            plan.priority,
            [(a, min(b, settles)) if settles else (a, b) for a, b in pauses],
        )
        if settled_by is not None and settled_by <= due:
            row["fr"].append((settled_by, True))
        elif settled_by is not None or first_resolution is None or due < first_resolution:
            row["fr"].append((due, False))
        row["scores"] += [(at, score, plan.tid) for at, score in plan.scores]
        for scheduled, recorded in plan.follow_ups:
            on_time = recorded <= scheduled + timedelta(days=1)
            row["fu"].append((recorded if on_time else scheduled + timedelta(days=1), on_time, recorded < scheduled))
        for scheduled in plan.missed_follow_ups:
            row["fu"].append((scheduled + timedelta(days=1), False, False))
        if plan.complaint:
            when, closing = plan.complaint
            row["complaints"].append(when)
            closed_at = when + closing if closing is not None else None
            close_due = when + timedelta(hours=48)
            row["cc"].append(
                (closed_at, True) if closed_at is not None and closed_at <= close_due else (close_due, False)
            )
        if first_resolution is not None and inside(first_resolution):
            row["wall_fix"].append((first_resolution - plan.created) / timedelta(hours=1))
            row["sla_fix"].append(counted_minutes(plan.created, first_resolution, plan.priority, pauses) / 60)
    out = {}
    for key, row in rows.items():
        fr = [ok for moment, ok in row["fr"] if inside(moment)]
        fu = [(ok, early) for moment, ok, early in row["fu"] if inside(moment)]
        cc = [ok for moment, ok in row["cc"] if inside(moment)]
        scores = [(score, tid) for moment, score, tid in row["scores"] if inside(moment)]
        per_ticket = defaultdict(list)
        for score, tid in scores:
            per_ticket[tid].append(score)
        figures = {
            "tickets_opened": len(row["opened"]),
            "resolved_at_month_end": sum(row["resolved"]),
            "first_response_due": len(fr),
            "first_response_on_time": sum(fr),
            "follow_ups_due": len(fu),
            "follow_ups_on_time": sum(ok for ok, _ in fu),
            "follow_ups_early": sum(e for _, e in fu),
            "complaints": sum(1 for moment in row["complaints"] if inside(moment)),
            "complaints_closed_due": len(cc),
            "complaints_closed_on_time": sum(cc),
            "csat_responses": len(scores),
            "csat_average_per_response": round(mean(s for s, _ in scores), 2) if scores else None,
            "csat_average_per_ticket": round(mean(mean(v) for v in per_ticket.values()), 2) if per_ticket else None,
            "mean_wall_hours_to_fix": round(mean(row["wall_fix"]), 2) if row["wall_fix"] else None,
            "mean_sla_hours_to_fix": round(mean(row["sla_fix"]), 2) if row["sla_fix"] else None,
        }
        if any(figures[k] is not None and figures[k] != 0 for k in COMPARED):
            out[key] = figures
    return out


COMPARED = (
    "tickets_opened",
    "resolved_at_month_end",
    "first_response_due",
    "first_response_on_time",
    "follow_ups_due",
    "follow_ups_on_time",
    "follow_ups_early",
    "complaints",
    "complaints_closed_due",
    "complaints_closed_on_time",
    "csat_responses",
    "csat_average_per_response",
    "csat_average_per_ticket",
    "mean_wall_hours_to_fix",
    "mean_sla_hours_to_fix",
)


async def test_a_generated_month_against_an_independent_computation(collector: Collector) -> None:
    seed = int(os.environ.get("MONTH_SEED", random.randrange(1 << 30)))
    print(f"MONTH_SEED={seed}")
    plans = generate(random.Random(seed))
    collector.clock.now = plans[0].created - timedelta(hours=1)
    await run(collector, plans)
    collector.clock.advance(max(0.0, (datetime(2027, 1, 20, tzinfo=UTC) - collector.clock()).total_seconds()))
    eve = collector.tokens["eve"]
    status, report = await collector.call("GET", "/api/v1/reports/monthly?month=2026-12", eve)
    assert status == 200 and report["timezone"] == "Asia/Shanghai"
    expected = expected_month(plans, MONTH_START.astimezone(UTC), MONTH_END.astimezone(UTC), collector.clock())
    got = {(r["priority"], r["fault_type"]): {k: r[k] for k in COMPARED} for r in report["rows"]}
    got = {key: row for key, row in got.items() if any(v is not None and v != 0 for v in row.values())}
    assert got == expected, f"MONTH_SEED={seed}"
    # totals are the rows summed; the CSV holds exactly the JSON's rows and totals
    for figure in ("tickets_opened", "first_response_due", "first_response_on_time", "follow_ups_due", "complaints"):
        assert report["totals"][figure] == sum(r[figure] for r in report["rows"])
    status, text = await collector.call("GET", "/api/v1/reports/monthly?month=2026-12&format=csv", eve)
    lines = list(csv.DictReader(io.StringIO(text.decode())))
    assert [line["priority"] for line in lines] == [r["priority"] for r in report["rows"]] + ["all"]
    for line, row in zip(lines, [*report["rows"], report["totals"]], strict=True):
        assert line == {"month": "2026-12", **{k: "" if v is None else str(v) for k, v in row.items()}}
    # the trend: November (Shanghai) holds the tickets opened before the boundary
    november = [p for p in plans if p.created < MONTH_START.astimezone(UTC)]
    assert [t["month"] for t in report["trend"]][-2:] == ["2026-11", "2026-12"]
    assert report["trend"][-2]["tickets_opened"] == len(november)
    assert report["trend"][-1]["tickets_opened"] == len(plans) - len(november)
