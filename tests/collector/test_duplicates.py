"""The same fault capture sent twice under two ids (an agent that lost its record of it): linked, shown once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collector.models import Role
from shared.models import Trigger, TriggerKind
from tests.blob_fixtures import BlobBackend

from .conftest import NOW, Collector


@pytest.fixture(params=list(BlobBackend))
def blob_backend(request: pytest.FixtureRequest) -> BlobBackend:
    """Every test here runs against the filesystem and against a real S3 server."""
    return BlobBackend(request.param)


FAULT = Trigger(
    kind=TriggerKind.FAULT, signature="broker_down", urgent=True, open_ticket=True, summary="broker_down x1"
)


async def test_a_second_bundle_of_the_same_capture_is_linked_and_shown_once(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    engineer = collector.user("eve", Role.ENGINEER)
    status, first, _ = await collector.upload(agent.bundle(start=NOW, trigger=FAULT))
    assert status == 201 and first["duplicate_of"] is None and first["ticket_id"] is not None
    status, second, _ = await collector.upload(agent.bundle(start=NOW, trigger=FAULT))
    assert status == 201, second
    assert second["bundle_id"] != first["bundle_id"]
    assert (second["duplicate_of"], second["ticket_id"]) == (first["bundle_id"], first["ticket_id"])
    status, replay, _ = await collector.upload(agent.bundle(start=NOW, trigger=FAULT))  # a third time: same original
    assert replay["duplicate_of"] == first["bundle_id"]

    _, ticket = await collector.call("GET", f"/api/v1/tickets/{first['ticket_id']}", engineer)
    assert [b["bundle_id"] for b in ticket["bundles"]] == [first["bundle_id"]]
    kinds = [event["kind"] for event in ticket["events"]]
    assert kinds.count("bundle_attached") == 1 and kinds.count("classified") <= 1
    assert [e["data"]["bundle_id"] for e in ticket["events"] if e["kind"] == "bundle_duplicate"] == [
        second["bundle_id"],
        replay["bundle_id"],
    ]
    _, meta = await collector.call("GET", f"/api/v1/bundles/{second['bundle_id']}/meta", engineer)
    assert meta["duplicate_of"] == first["bundle_id"]

    store = collector.store()
    try:
        audited = store.audit_log(target=second["bundle_id"])
    finally:
        store.close()
    assert [(a["action"], a["detail"]["duplicate_of"]) for a in audited] == [("bundle.duplicate", first["bundle_id"])]


async def test_other_windows_signatures_agents_and_requests_are_never_duplicates(collector: Collector) -> None:
    agent, neighbour = await collector.enrol("hh-a"), await collector.enrol("hh-a")
    later = NOW + timedelta(minutes=20)
    manual = Trigger(kind=TriggerKind.MANUAL)
    asked = Trigger(kind=TriggerKind.SELF_DIAGNOSIS, signature="broker_down")
    uploads = [
        agent.bundle(start=NOW, trigger=FAULT),
        agent.bundle(start=later, trigger=FAULT),
        agent.bundle(start=NOW, trigger=FAULT.model_copy(update={"signature": "router_reboot"})),
        neighbour.bundle(start=NOW, trigger=FAULT),
        agent.bundle(start=NOW, trigger=manual),
        agent.bundle(start=NOW, trigger=manual),
        agent.bundle(start=NOW, trigger=asked),
        agent.bundle(start=NOW, trigger=asked),
    ]
    for data in uploads:
        status, body, _ = await collector.upload(data)
        assert status == 201 and body["duplicate_of"] is None, body


async def test_waiting_duplicates_join_the_ticket_opened_later_once(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    engineer = collector.user("eve", Role.ENGINEER)
    waiting = Trigger(kind=TriggerKind.FAULT, signature="broker_down")
    _, first, _ = await collector.upload(agent.bundle(start=NOW, trigger=waiting))
    _, second, _ = await collector.upload(agent.bundle(start=NOW, trigger=waiting))
    assert first["ticket_id"] is None and second["duplicate_of"] == first["bundle_id"]
    status, ticket = await collector.call(
        "POST",
        "/api/v1/tickets",
        engineer,
        json={
            "household": "hh-a",
            "device": "hub",
            "symptom": "lights unresponsive",
            "when": "03:30",
            "priority": "P2",
        },
    )
    assert status == 201, ticket
    assert [b["bundle_id"] for b in ticket["bundles"]] == [first["bundle_id"]]
    assert [e["kind"] for e in ticket["events"]].count("bundle_attached") == 1
    _, meta = await collector.call("GET", f"/api/v1/bundles/{second['bundle_id']}/meta", engineer)
    assert meta["ticket_id"] == ticket["id"]
