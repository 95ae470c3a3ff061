"""Tickets: auto-attach by household and time, waiting bundles, the append-only audit trail."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from collector.attach import TicketSpan, choose_ticket, fits
from collector.models import Role
from shared.models import CaptureWindow
from shared.redact import Redactor

from .conftest import NOW, Collector

HOUR = timedelta(hours=1)
SLACK, LOOKBACK = timedelta(hours=6), timedelta(days=14)


def _window(start_h: float, end_h: float) -> CaptureWindow:
    return CaptureWindow(start=NOW + start_h * HOUR, end=NOW + end_h * HOUR)


def test_fit_uses_the_stated_fault_time_with_slack() -> None:
    span = TicketSpan(1, NOW + 48 * HOUR, NOW, NOW + 0.2 * HOUR)
    assert fits(_window(-1, 0.1), span, slack=SLACK, lookback=LOOKBACK)
    assert fits(_window(5, 6), span, slack=SLACK, lookback=LOOKBACK)
    assert not fits(_window(7, 8), span, slack=SLACK, lookback=LOOKBACK)
    assert not fits(_window(-24, -20), span, slack=SLACK, lookback=LOOKBACK)


def test_without_a_stated_time_the_newest_open_ticket_within_lookback_wins() -> None:
    old, new = TicketSpan(1, NOW), TicketSpan(2, NOW + HOUR)
    assert choose_ticket(_window(2, 3), [old, new], slack=SLACK, lookback=LOOKBACK) == 2
    assert choose_ticket(_window(-24 * 20, -24 * 19), [old, new], slack=SLACK, lookback=LOOKBACK) is None
    assert choose_ticket(_window(0, 1), [], slack=SLACK, lookback=LOOKBACK) is None


async def test_a_waiting_bundle_joins_the_ticket_opened_later(collector: Collector) -> None:
    engineer = collector.user("eve", Role.ENGINEER)
    agent = await collector.enrol("hh-a")
    other = await collector.enrol("hh-b")
    _, waiting, _ = await collector.upload(agent.bundle(start=NOW))
    _, elsewhere, _ = await collector.upload(other.bundle(start=NOW))
    _, too_early, _ = await collector.upload(agent.bundle(start=NOW - timedelta(days=3)))
    assert waiting["ticket_id"] is None
    status, unattached = await collector.call("GET", "/api/v1/bundles?unattached=1&household=hh-a", engineer)
    assert {b["bundle_id"] for b in unattached["bundles"]} == {waiting["bundle_id"], too_early["bundle_id"]}

    status, ticket = await collector.call(
        "POST",
        "/api/v1/tickets",
        engineer,
        json={
            "household": "hh-a",
            "device": "curtain",
            "symptom": "no remote control",
            "when": "last night 03:30",
            "priority": "P2",
            "occurred_from": NOW.isoformat(),
            "occurred_to": (NOW + timedelta(minutes=5)).isoformat(),
        },
    )
    assert status == 201
    assert [b["bundle_id"] for b in ticket["bundles"]] == [waiting["bundle_id"]]
    assert ticket["bundles"][0]["verified"] is True
    # The bundle's fault signature pre-fills the classification.
    assert [e["kind"] for e in ticket["events"]] == ["created", "bundle_attached", "classified"]
    assert ticket["events"][2]["data"]["type"] == "network" and ticket["events"][2]["data"]["source"] == "diagnosis"
    assert ticket["events"][0]["actor"] == "eve"
    assert elsewhere["ticket_id"] is None

    _, later, _ = await collector.upload(agent.bundle(start=NOW + timedelta(minutes=2)))
    assert later["ticket_id"] == ticket["id"]
    status, note = await collector.call(
        "POST", f"/api/v1/tickets/{ticket['id']}/notes", engineer, json={"text": "called"}
    )
    assert status == 201 and note["kind"] == "internal_note"  # a staff note without a visibility stays internal
    _, shown = await collector.call("GET", f"/api/v1/tickets/{ticket['id']}", engineer)
    assert [e["kind"] for e in shown["events"]] == [
        "created",
        "bundle_attached",
        "classified",
        "bundle_attached",
        "internal_note",
    ]


async def test_ticket_events_and_audit_are_append_only(collector: Collector) -> None:
    engineer = collector.user("eve", Role.ENGINEER)
    status, _ = await collector.call(
        "POST",
        "/api/v1/tickets",
        engineer,
        json={"household": "hh-a", "device": "d", "symptom": "s", "when": "w", "priority": "P3"},
    )
    assert status == 201
    store = collector.store()  # a raw connection to the same database, past the store's methods
    try:
        for statement in (
            "UPDATE ticket_events SET actor = 'mallory'",
            "DELETE FROM ticket_events",
            "UPDATE audit SET actor = 'mallory'",
            "DELETE FROM audit",
        ):
            with pytest.raises(store.backend.integrity_error, match="append-only"):
                store.backend.connection.execute(statement)
        assert store.audit_log() and store.get_ticket(1) is not None and store.get_ticket(1).events  # type: ignore[union-attr]
    finally:
        store.close()


async def test_bad_intake_is_a_clear_400(collector: Collector) -> None:
    engineer = collector.user("eve", Role.ENGINEER)
    status, body = await collector.call(
        "POST", "/api/v1/tickets", engineer, json={"household": "hh-a", "priority": "P9"}
    )
    assert status == 400 and body["error"]["code"] == "body_invalid"
    status, body = await collector.call("GET", "/api/v1/tickets?priority=P9", engineer)
    assert status == 400
    status, body = await collector.call("GET", "/api/v1/tickets/abc", engineer)
    assert status == 400


@pytest.mark.parametrize("config_overrides", [{"tickets": {"redact_customer_text": True}}])
async def test_customer_text_is_redacted_when_the_organisation_turns_it_on(collector: Collector) -> None:
    customer = collector.user("cara", Role.CUSTOMER, household="hh-r")
    status, ticket = await collector.call(
        "POST",
        "/api/v1/tickets",
        customer,
        json={
            "device": "plug a4:cf:12:34:56:78",
            "symptom": "offline; my wifi password=hunter2, call +49 170 1234567",
            "when": "since yesterday",
            "priority": "P3",
            "environment": "router 192.168.1.1, SSID: Lovely Home",
        },
    )
    assert status == 201
    stored = json.dumps(ticket)
    for secret in ("a4:cf:12:34:56:78", "hunter2", "1234567", "192.168.1.1", "Lovely Home"):
        assert secret not in stored
    intake = ticket["intake"]
    # the household's own pseudonyms: the same MAC in a bundle of this household reads the same
    store = collector.store()
    try:
        pseudonym_key = store.household_pseudonym_key("hh-r", NOW)
    finally:
        store.close()
    assert Redactor(base64.b64decode(pseudonym_key)).pseudonym_mac("a4:cf:12:34:56:78") in intake["device"]
    status, event = await collector.call(
        "POST",
        f"/api/v1/tickets/{ticket['id']}/notes",
        customer,
        json={"text": "still down, token=abc123 at me@example.com"},
    )
    assert status == 201 and "abc123" not in json.dumps(event) and "me@example.com" not in json.dumps(event)


def _classified(ticket: dict) -> list[dict]:  # type: ignore[type-arg]
    return [e["data"] for e in ticket["events"] if e["kind"] == "classified"]


async def test_the_pre_filled_cause_follows_the_strongest_evidence_and_a_persons_stays(collector: Collector) -> None:
    from shared.models import Priority, Trigger, TriggerKind

    engineer = collector.user("eve", Role.ENGINEER)
    agent = await collector.enrol("hh-a")
    # A click in the middle of an outage opens the ticket: its cause is provisional.
    click = Trigger(
        kind=TriggerKind.SELF_DIAGNOSIS, signature="router_reboot:ongoing", open_ticket=True, priority=Priority.P1
    )
    _, opened, _ = await collector.upload(agent.bundle(start=NOW, trigger=click))
    ticket_id = opened["ticket_id"]
    assert ticket_id is not None
    # The restart's bundle, then the crash loop's: each better supported than what the ticket held.
    for signature in ("device_reboot:esp", "device_crash_loop:esp", "device_offline:esp", "device_reboot:esp"):
        trigger = Trigger(kind=TriggerKind.FAULT, signature=signature)
        _, stored, _ = await collector.upload(agent.bundle(start=NOW + timedelta(minutes=1), trigger=trigger))
        assert stored["ticket_id"] == ticket_id
    _, ticket = await collector.call("GET", f"/api/v1/tickets/{ticket_id}", engineer)
    causes = [(c["cause"], c["provisional"], c.get("replaces")) for c in _classified(ticket)]
    assert causes == [
        ("router_reboot", True, None),
        ("device_reboot", False, "router_reboot"),
        ("device_crash_loop", False, "device_reboot"),
    ]
    store = collector.store()
    try:
        changes = [
            (e["detail"]["from"], e["detail"]["to"])
            for e in store.audit_log(target=str(ticket_id))
            if e["action"] == "ticket.cause_replaced"
        ]
    finally:
        store.close()
    assert sorted(changes) == [("device_reboot", "device_crash_loop"), ("router_reboot", "device_reboot")]

    status, _ = await collector.call(
        "POST",
        f"/api/v1/tickets/{ticket_id}/classify",
        engineer,
        json={"type": "hardware", "cause": "power supply", "impact": "degraded"},
    )
    assert status == 201
    trigger = Trigger(kind=TriggerKind.FAULT, signature="device_crash_loop:esp")
    await collector.upload(agent.bundle(start=NOW + timedelta(minutes=2), trigger=trigger))
    _, ticket = await collector.call("GET", f"/api/v1/tickets/{ticket_id}", engineer)
    assert _classified(ticket)[-1]["cause"] == "power supply"
