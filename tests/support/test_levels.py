"""Configurable service levels: ordered policies with conditions (the seeds' table by default) and a business
calendar per support group, through the real server."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from collector.config import SupportConfig
from collector.models import Role
from tests.collector.conftest import NOW, Collector

POLICIES = [
    {
        "name": "premium",
        "conditions": {"households": ["hh-vip"]},
        "targets": {"P2": {"first_response": "30m", "fix": "1bd"}},
    },
    {
        "name": "self-service",
        "conditions": {"channels": ["self-diagnosis"], "devices": ["camera"]},
        "targets": {"P3": {"fix": None, "first_response": "1h"}},
    },
]


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    # NOW is Tuesday 03:30 UTC = 11:30 in Shanghai; the "support" group works Shanghai hours, the rest UTC hours
    return {"support": {"policies": POLICIES, "group_calendars": {"support": {"timezone": "Asia/Shanghai"}}}}


def test_policies_are_validated_when_the_configuration_loads() -> None:
    for targets in (
        {"P2": {"first_reply": "1h"}},
        {"P2": {"fix": "soon"}},
        {"P2": {"first_response": None}},
        {"P1": {"fix": "0h"}},
    ):
        with pytest.raises(ValidationError):
            SupportConfig.model_validate({"policies": [{"name": "x", "targets": targets}]})


async def test_the_first_matching_policy_and_the_groups_calendar_apply(collector: Collector) -> None:
    eve = collector.user("eve", Role.ENGINEER)
    intake = {"household": "hh-a", "device": "hall camera", "symptom": "s", "when": "w", "priority": "P2"}

    async def sla(**fields: Any) -> dict[str, Any]:
        _, ticket = await collector.call("POST", "/api/v1/tickets", eve, json={**intake, **fields})
        _, answer = await collector.call("GET", f"/api/v1/tickets/{ticket['id']}/sla", eve)
        return {"policy": answer["policy"], **{c["target"]: datetime.fromisoformat(c["due"]) for c in answer["clocks"]}}

    default = await sla()
    assert default["policy"] == "default"
    assert default["first_response"] == NOW + timedelta(hours=2)  # business hours of the group's calendar (Shanghai)
    premium = await sla(household="hh-vip")
    assert premium["policy"] == "premium" and premium["first_response"] == NOW + timedelta(minutes=30)
    assert premium["fix"] == NOW + timedelta(hours=24)  # one business day: 11:30 to 11:30 the next day
    guided = await sla(priority="P3", channel="self-diagnosis")
    assert guided["policy"] == "self-service" and "fix" not in guided
    assert guided["first_response"] == NOW + timedelta(hours=1)
    # the emergency group (P1) has no calendar of its own and runs around the clock anyway
    assert (await sla(priority="P1"))["first_response"] == NOW + timedelta(minutes=30)
