"""Request Tracker 5 for real (Debian's package, REST 2 with a token): a signed bundle uploaded to a real collector
lands on a linked RT ticket as an internal comment, byte-identical and verifiable with ``homediag-agent bundle
verify``; milestones follow as comments; nothing is ever sent as RT correspondence."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.models import Role
from shared.signing import public_key_to_text
from tests.collector.conftest import NOW, Collector
from tests.collector.sessions import sign_in
from tests.waiting import eventually

from .conftest import CONNECTOR_WAIT_S, RtApi, signed_bundle
from .rt_server import HOUSEHOLD_FIELD, QUEUE, RECOVERY_QUEUE, SCRIP_SECRET, TICKET_FIELD, RtServer

pytestmark = pytest.mark.slow
AGENT_CLI = str(Path(sys.executable).with_name("homediag-agent"))


def rt_helpdesk(rt: RtServer, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "rt",
        "kind": "request_tracker",
        "url": rt.url,
        "token": rt.token,
        "queue": QUEUE,
        "ticket_field": TICKET_FIELD,
        "household_field": HOUSEHOLD_FIELD,
        "inbound_secret": SCRIP_SECRET,
        **overrides,
    }


@pytest.fixture
def config_overrides(rt: RtServer, request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"connectors": {"helpdesks": [rt_helpdesk(rt, **getattr(request, "param", {}))]}}


async def open_ticket(collector: Collector, token: str, household: str) -> int:
    status, ticket = await collector.call(
        "POST",
        "/api/v1/tickets",
        token,
        json={
            "household": household,
            "device": "whole home",
            "symptom": "everything went offline at night",
            "when": "last night",
            "priority": "P2",
            "occurred_from": (NOW - timedelta(minutes=15)).isoformat(),
        },
    )
    assert status == 201, ticket
    return int(ticket["id"])


async def comments_with_files(rt_api: RtApi, remote: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    found = []
    for tx in await rt_api.history(remote):
        if tx["Type"] == "Comment":
            files = [a for a in await rt_api.attachments(tx["id"]) if a.get("Filename")]
            found.append((tx, files))
    return found


async def test_a_signed_bundle_lands_on_the_rt_ticket_as_an_internal_comment(
    collector: Collector, rt_api: RtApi, tmp_path: Path
) -> None:
    agent = await collector.enrol("hh-rt-1")
    engineer = collector.user("eve", Role.ENGINEER)
    tid = await open_ticket(collector, engineer, "hh-rt-1")
    bundle = signed_bundle(agent)
    status, stored, _ = await collector.upload(bundle)
    assert status == 201 and stored["ticket_id"] == tid, stored

    found = await eventually(lambda: rt_api.search(f"'CF.{{{TICKET_FIELD}}}' = '{tid}'"), within=CONNECTOR_WAIT_S)
    remote = found[0]["id"]
    assert await rt_api.field(remote, HOUSEHOLD_FIELD) == ["hh-rt-1"]
    comments = await eventually(lambda: _with_file(rt_api, remote), within=CONNECTOR_WAIT_S)
    tx, files = comments[0]
    (attachment,) = files
    assert attachment["Filename"] == f"{stored['bundle_id']}.tar.gz"
    received = await rt_api.download(attachment["id"])
    assert received == bundle  # byte-identical
    copy = tmp_path / attachment["Filename"]
    copy.write_bytes(received)
    key = public_key_to_text(agent.key.public_key())
    verified = await asyncio.to_thread(
        subprocess.run,
        [AGENT_CLI, "bundle", "verify", str(copy), "--public-key", key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0 and verified.stdout.startswith("OK:"), verified.stdout + verified.stderr
    note = await _comment_text(rt_api, tx)
    for expected in (
        "Symptom: Every device dropped off the network at 03:12.",
        "Root cause: The router rebooted",
        "Solution: Check the router's power supply",
        "Risk: Low",
        f"https://support.homediag.test/ui/tickets/{tid}#bundle-{stored['bundle_id']}",
    ):
        assert expected in note, expected

    # An RT agent replies to the customer in RT (correspondence is theirs); homediag's notes stay comments.
    await rt_api.send("POST", f"/ticket/{remote}/correspond", {"Content": "We are on it.", "ContentType": "text/plain"})
    status, _ = await collector.call(
        "POST", f"/api/v1/tickets/{tid}/milestones", engineer, json={"name": "root_cause_found", "text": "router"}
    )
    assert status == 201
    await eventually(lambda: _comment_count(rt_api, remote, 2), within=CONNECTOR_WAIT_S)
    history = await rt_api.history(remote)
    assert [t["Type"] for t in history].count("Correspond") == 1  # only the RT agent's own
    assert len(await _with_file(rt_api, remote)) == 1  # the bundle went once

    # The homediag ticket page names the RT ticket; the per-ticket delivery log shows what left.
    admin = collector.user("root", Role.ADMIN)
    status, log = await collector.call("GET", "/api/v1/deliveries", admin, params={"ticket_id": str(tid)})
    helpdesk_jobs = [j for j in log["deliveries"] if j["channel"] == "helpdesk"]
    assert {j["state"] for j in helpdesk_jobs} == {"sent"} and len(helpdesk_jobs) >= 3
    browser = await sign_in(collector, "eve-web", Role.ENGINEER)
    status, _, page = await browser.get(f"/ui/tickets/{tid}")
    assert status == 200 and f"rt ticket {remote}" in page


async def _with_file(rt_api: RtApi, remote: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    return [(tx, files) for tx, files in await comments_with_files(rt_api, remote) if files]


async def _comment_count(rt_api: RtApi, remote: str, count: int) -> bool:
    return [t["Type"] for t in await rt_api.history(remote)].count("Comment") >= count


async def _comment_text(rt_api: RtApi, tx: dict[str, Any]) -> str:
    parts = await rt_api.attachments(tx["id"])
    return "\n".join(p["Content"] for p in parts if p.get("ContentType") == "text/plain")  # RT gives text as is


# Its own queue: every test's collector numbers its tickets from 1, and a ticket is looked up in its queue.
@pytest.mark.parametrize("config_overrides", [{"create_tickets": False, "queue": "General"}], indirect=True)
async def test_a_ticket_opened_in_rt_gets_the_households_bundles_and_resolving_it_there_resolves_ours(
    collector: Collector, rt: RtServer, rt_api: RtApi
) -> None:
    rt.send_events_to(str(collector.client.make_url("/api/v1/connectors/rt/events")))  # RT's scrips call us
    try:
        agent = await collector.enrol("hh-rt-2")
        status, stored, _ = await collector.upload(signed_bundle(agent))
        assert status == 201 and stored["ticket_id"] is None  # no ticket yet: it waits
        created = await rt_api.send(
            "POST",
            "/ticket",
            {
                "Queue": "General",
                "Subject": "Customer called: the lights went off last night",
                "Content": "hotline call",
                "ContentType": "text/plain",
                "CustomFields": {HOUSEHOLD_FIELD: "hh-rt-2"},
            },
        )
        remote = created["id"]
        engineer = collector.user("eve", Role.ENGINEER)
        listed = await eventually(lambda: _tickets_of(collector, engineer, "hh-rt-2"), within=CONNECTOR_WAIT_S)
        tid = listed[0]["id"]
        comments = await eventually(lambda: _with_file(rt_api, remote), within=CONNECTOR_WAIT_S)
        assert comments[0][1][0]["Filename"] == f"{stored['bundle_id']}.tar.gz"
        assert await eventually(
            lambda: _field_is(rt_api, remote, TICKET_FIELD, str(tid)), within=CONNECTOR_WAIT_S
        )  # our id written back
        status, ticket = await collector.call("GET", f"/api/v1/tickets/{tid}", engineer)
        assert [b["bundle_id"] for b in ticket["bundles"]] == [stored["bundle_id"]]

        await rt_api.send("PUT", f"/ticket/{remote}", {"Status": "resolved"})
        resolved = await eventually(lambda: _state_is(collector, engineer, tid, "resolved"), within=CONNECTOR_WAIT_S)
        assert resolved
        status, ticket = await collector.call("GET", f"/api/v1/tickets/{tid}", engineer)
        notes = [e["data"]["note"] for e in ticket["events"] if e["kind"] == "transition"]
        assert notes[-1] == f"solved in rt (ticket {remote})"
    finally:
        rt.send_events_to("")


async def _tickets_of(collector: Collector, token: str, household: str) -> list[dict[str, Any]]:
    status, found = await collector.call("GET", "/api/v1/tickets", token, params={"household": household})
    return found["tickets"] if status == 200 else []  # type: ignore[no-any-return]


async def _field_is(rt_api: RtApi, remote: str, name: str, value: str) -> bool:
    return await rt_api.field(remote, name) == [value]


async def _state_is(collector: Collector, token: str, tid: int, state: str) -> bool:
    status, ticket = await collector.call("GET", f"/api/v1/tickets/{tid}", token)
    return status == 200 and ticket["state"] == state


@pytest.mark.parametrize("config_overrides", [{"queue": RECOVERY_QUEUE}], indirect=True)
async def test_a_ticket_opened_in_rt_before_a_crash_is_found_not_opened_twice(
    collector: Collector, rt_api: RtApi
) -> None:
    # As if the collector had opened RT's ticket for its ticket 1 and crashed before recording the link.
    created = await rt_api.send(
        "POST",
        "/ticket",
        {
            "Queue": RECOVERY_QUEUE,
            "Subject": "[homediag #1]",
            "Content": "-",
            "ContentType": "text/plain",
            "CustomFields": {TICKET_FIELD: "1"},
        },
    )
    agent = await collector.enrol("hh-rt-3")
    engineer = collector.user("eve", Role.ENGINEER)
    assert await open_ticket(collector, engineer, "hh-rt-3") == 1
    status, stored, _ = await collector.upload(signed_bundle(agent))
    assert status == 201 and stored["ticket_id"] == 1
    await eventually(lambda: _with_file(rt_api, created["id"]), within=CONNECTOR_WAIT_S)
    assert len(await rt_api.search(f"Queue = '{RECOVERY_QUEUE}'")) == 1  # found and used, not opened again
