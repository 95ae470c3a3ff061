"""Zendesk and Jira Service Management through the same connector path as Request Tracker, against their
documented contracts (contracts/*.yaml, each exchange naming its documentation page) replayed by a real aiohttp
server on loopback: the ticket is opened, the bundle uploaded (Zendesk: upload, then a private comment carrying
the token; JSM: a temporary attachment, then a ``public: false`` attachment comment), milestones go as internal
comments, 429 + Retry-After is honoured, an oversized bundle goes as a signed, expiring link, and the helpdesks'
signed webhooks resolve our ticket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from collector.models import Role
from collector.store.outbox import delivery_log
from shared.bundle import open_bundle
from tests.collector.conftest import NOW, Collector
from tests.collector.sessions import sign_in
from tests.waiting import eventually

from .conftest import CONNECTOR_WAIT_S, signed_bundle
from .contract_server import ContractServer, load_contract, start_contract_server

INBOUND_SECRET = "helpdesk-webhook-secret-0123"


@dataclass(frozen=True)
class Desk:
    contract: str
    settings: dict[str, Any]


DESKS = {
    "zendesk": Desk(
        "zendesk",
        {"user": "agent@example.com", "ticket_field": "360001234567", "household_field": "360007654321"},
    ),
    "jira_service_management": Desk(
        "jira_service_management",
        {
            "user": "agent@example.com",
            "queue": "10",
            "request_type": "25",
            "ticket_field": "customfield_10050",
            "household_field": "customfield_10051",
        },
    ),
}


@pytest.fixture(params=sorted(DESKS))
async def desk(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, ContractServer, str]]:
    name = request.param
    server = ContractServer(load_contract(DESKS[name].contract), "agent@example.com", f"{name}-api-token")
    http = await start_contract_server(server)
    try:
        yield name, server, str(http.make_url("")).rstrip("/")
    finally:
        await http.close()


@pytest.fixture
def max_attachment_bytes() -> int:
    return 20 * 1024 * 1024


@pytest.fixture
def token_suffix() -> str:
    return ""


@pytest.fixture
def scan() -> dict[str, Any]:
    return {}


@pytest.fixture
def config_overrides(
    desk: tuple[str, ContractServer, str], max_attachment_bytes: int, token_suffix: str, scan: dict[str, Any]
) -> dict[str, Any]:
    name, server, url = desk
    helpdesk = {
        "name": "desk",
        "kind": name,
        "url": url,
        "token": server.token + token_suffix,
        "inbound_secret": INBOUND_SECRET,
        "max_attachment_bytes": max_attachment_bytes,
        "min_interval_s": 0,
        **DESKS[name].settings,
    }
    return {"connectors": {"helpdesks": [helpdesk]}, "support": scan}


async def _open(collector: Collector, token: str, household: str) -> int:
    status, ticket = await collector.call(
        "POST",
        "/api/v1/tickets",
        token,
        json={"household": household, "device": "hub", "symptom": "offline", "when": "night", "priority": "P2"},
    )
    assert status == 201
    return int(ticket["id"])


def _comments(server: ContractServer) -> list[Any]:
    """Every comment the helpdesk received, as sent."""
    found = []
    for seen in server.seen:
        body = seen.json or {}
        if "ticket" in body and "comment" in body["ticket"]:
            found.append(body["ticket"]["comment"])
        elif seen.path.endswith(("/comment", "/attachment")):
            found.append(body)
    return found


async def test_evidence_reaches_the_helpdesk_as_internal_comments_only(
    collector: Collector, desk: tuple[str, ContractServer, str]
) -> None:
    name, server, _ = desk
    agent = await collector.enrol("hh-c")
    engineer = collector.user("eve", Role.ENGINEER)
    bundle = signed_bundle(agent)
    server.bundle = bundle
    server.values |= {"ticket_id": "1", "household": "hh-c", "bundle_id": str(open_bundle(bundle).claimed.bundle_id)}
    tid = await _open(collector, engineer, "hh-c")
    assert tid == 1
    status, stored, _ = await collector.upload(bundle)
    assert status == 201 and stored["ticket_id"] == tid
    uploaded = "upload files" if name == "zendesk" else "attach temporary file"
    await eventually(lambda: any(s.exchange == uploaded for s in server.seen), within=CONNECTOR_WAIT_S)
    status, _ = await collector.call("POST", f"/api/v1/tickets/{tid}/milestones", engineer, json={"name": "fixed"})
    assert status == 201
    await eventually(lambda: "Milestone: fixed" in json.dumps(_comments(server)), within=CONNECTOR_WAIT_S)

    assert server.violations == []
    names = [s.exchange for s in server.seen]
    opened = "create ticket" if name == "zendesk" else "create customer request"
    assert names.count(opened) == 1 and names.index(opened) < names.index(uploaded)
    looked = "list tickets by external id" if name == "zendesk" else "search issues by the ticket field"
    assert names[0] == looked  # a ticket opened before a crash would be found, not opened twice
    comments = _comments(server)
    assert comments and all(c.get("public") is False for c in comments)  # nothing is ever public
    text = json.dumps(comments, ensure_ascii=False)
    assert "Root cause: The router rebooted" in text and f"/ui/tickets/{tid}#bundle-" in text
    assert "Milestone: fixed" in text
    (upload,) = [s for s in server.seen if s.exchange == uploaded]
    assert upload.file == bundle  # byte-identical


async def test_rate_limits_are_honoured_and_nothing_is_sent_twice(
    collector: Collector, desk: tuple[str, ContractServer, str]
) -> None:
    name, server, _ = desk
    server.values |= {"ticket_id": "1", "household": "hh-r"}
    server.rate_limit_next = 1  # the first request gets the documented 429 with Retry-After: 93
    engineer = collector.user("eve", Role.ENGINEER)
    tid = await _open(collector, engineer, "hh-r")
    store = collector.store()
    try:
        job = await eventually(
            lambda: next((j for j in delivery_log(store) if j["attempts"] == 1), None), within=CONNECTOR_WAIT_S
        )
        assert job["state"] == "pending" and "429" in job["last_error"]
        assert datetime.fromisoformat(job["next_at"]) >= NOW + timedelta(seconds=93)  # not before Retry-After
        # Another job for the same helpdesk meanwhile is held back without a request and without using an attempt.
        await collector.call("POST", f"/api/v1/tickets/{tid}/milestones", engineer, json={"name": "fixed"})
        held = await eventually(
            lambda: next((j for j in delivery_log(store) if j["key"].startswith("note:") and j["attempt_log"]), None),
            within=CONNECTOR_WAIT_S,
        )
    finally:
        store.close()
    assert held["attempts"] == 0 and [a["outcome"] for a in held["attempt_log"]] == ["deferred"]
    assert datetime.fromisoformat(held["next_at"]) >= NOW + timedelta(seconds=92)
    assert len(server.seen) == 0  # nothing reached the helpdesk while it asked us to wait
    collector.clock.advance(94)
    await eventually(lambda: "Milestone: fixed" in json.dumps(_comments(server)), within=CONNECTOR_WAIT_S)
    assert [s.exchange for s in server.seen].count(
        "create ticket" if name == "zendesk" else "create customer request"
    ) == 1
    assert server.violations == []


@pytest.mark.parametrize("max_attachment_bytes", [1024])
async def test_a_bundle_above_the_attachment_limit_goes_as_a_signed_expiring_link(
    collector: Collector, desk: tuple[str, ContractServer, str]
) -> None:
    _, server, _ = desk
    agent = await collector.enrol("hh-big")
    bundle = signed_bundle(agent, padding=4096)
    server.values |= {"ticket_id": "1", "household": "hh-big"}
    engineer = collector.user("eve", Role.ENGINEER)
    await _open(collector, engineer, "hh-big")
    await collector.upload(bundle)
    await eventually(lambda: any("download" in json.dumps(c) for c in _comments(server)), within=CONNECTOR_WAIT_S)
    assert server.violations == [] and all(s.file is None for s in server.seen)  # nothing attached
    text = json.dumps(_comments(server))
    url = re.search(r"https://support\.homediag\.test(/api/v1/connectors/downloads/[^ \"\\]+)", text)
    assert url is not None
    status, body = await collector.call("GET", url.group(1), None)
    assert status == 200 and body == bundle
    tampered = url.group(1)[:-1] + ("0" if url.group(1)[-1] != "0" else "1")
    assert (await collector.call("GET", tampered, None))[0] == 403
    collector.clock.advance(8 * 86400)  # past the link's lifetime (7 days)
    assert (await collector.call("GET", url.group(1), None))[0] == 403


async def _post(collector: Collector, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    answer = await collector.client.post(path, data=body, headers={"Content-Type": "application/json", **headers})
    return answer.status, await answer.json()


def _signed_event(name: str, body: bytes, secret: str, when: datetime) -> dict[str, str]:
    if name == "zendesk":
        timestamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
        return {
            "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        }
    return {"X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def _event_body(name: str, remote: str, household: str, solved: bool) -> bytes:
    if name == "zendesk":  # the JSON a Zendesk trigger sends (docs/connectors.md)
        data: dict[str, Any] = {"ticket_id": remote, "status": "Solved" if solved else "New", "household": household}
    else:  # Jira's own issue webhook payload (https://developer.atlassian.com/cloud/jira/platform/webhooks/)
        data = {
            "webhookEvent": "jira:issue_updated" if solved else "jira:issue_created",
            "issue": {
                "id": "107001",
                "key": remote,
                "fields": {
                    "summary": "Lights went off",
                    "customfield_10051": household,
                    "status": {
                        "name": "Resolved" if solved else "Open",
                        "statusCategory": {"key": "done" if solved else "new"},
                    },
                },
            },
        }
    return json.dumps(data).encode()


async def test_inbound_webhooks_are_signed_link_tickets_and_resolve_ours(
    collector: Collector, desk: tuple[str, ContractServer, str]
) -> None:
    name, server, _ = desk
    remote = "35436" if name == "zendesk" else "HELPDESK-1"
    path = "/api/v1/connectors/desk/events"
    agent = await collector.enrol("hh-in")
    bundle = signed_bundle(agent)
    server.bundle = bundle
    server.values |= {"ticket_id": "1", "household": "hh-in", "bundle_id": str(open_bundle(bundle).claimed.bundle_id)}
    await collector.upload(bundle)
    opened = _event_body(name, remote, "hh-in", solved=False)
    for headers in (
        {},
        _signed_event(name, opened, "a-wrong-secret-0123456789", NOW),
        *([_signed_event(name, opened, INBOUND_SECRET, NOW - timedelta(hours=1))] if name == "zendesk" else []),
    ):
        status, refused = await _post(collector, path, opened, headers)
        assert status == 401, refused
    status, answer = await _post(collector, path, opened, _signed_event(name, opened, INBOUND_SECRET, NOW))
    assert status == 200 and answer["opened"] and answer["linked"], answer
    tid = answer["ticket_id"]
    engineer = collector.user("eve", Role.ENGINEER)
    status, ticket = await collector.call("GET", f"/api/v1/tickets/{tid}", engineer)
    assert len(ticket["bundles"]) == 1  # the household's waiting bundle fits the new ticket
    solved = _event_body(name, remote, "hh-in", solved=True)
    status, answer = await _post(collector, path, solved, _signed_event(name, solved, INBOUND_SECRET, NOW))
    assert status == 200 and answer["moved"] == ["diagnosing", "resolved"], answer
    assert (await _post(collector, "/api/v1/connectors/nope/events", solved, {}))[0] == 404
    field = (
        "update ticket fields (our ticket id written back)"
        if name == "zendesk"
        else "edit issue (our ticket id written back)"
    )
    await eventually(
        lambda: any(s.exchange == field for s in server.seen) and any(s.file == bundle for s in server.seen),
        within=CONNECTOR_WAIT_S,
    )
    assert server.violations == []
    status, _ = await _post(collector, path, b"[1", _signed_event(name, b"[1", INBOUND_SECRET, NOW))
    assert status == 400


@pytest.mark.parametrize("token_suffix", ["-revoked"])
async def test_a_delivery_the_helpdesk_refuses_gives_up_and_shows_in_the_admin_view(
    collector: Collector, desk: tuple[str, ContractServer, str]
) -> None:
    _, server, _ = desk
    engineer = collector.user("eve", Role.ENGINEER)
    tid = await _open(collector, engineer, "hh-x")
    admin = collector.user("root", Role.ADMIN)

    async def gave_up() -> list[dict[str, Any]]:
        status, log = await collector.call("GET", "/api/v1/deliveries", admin, params={"state": "failed"})
        return log["deliveries"] if status == 200 else []

    (job,) = await eventually(gave_up, within=CONNECTOR_WAIT_S)
    assert job["channel"] == "helpdesk" and job["ticket_id"] == tid and job["attempts"] == 1  # a 4xx: not retried
    assert server.violations  # the documented server refused the wrong token
    browser = await sign_in(collector, "root-web", Role.ADMIN)
    status, _, page = await browser.get("/ui/deliveries", params={"state": "failed", "ticket_id": str(tid)})
    assert status == 200 and page.count('class="job failed"') == 1 and "that gave up" in page


async def test_notes_are_in_the_households_language(
    collector: Collector, desk: tuple[str, ContractServer, str]
) -> None:
    _, server, _ = desk
    engineer = collector.user("eve", Role.ENGINEER)
    status, _ = await collector.call("PUT", "/api/v1/households/hh-zh/contact", engineer, json={"language": "zh"})
    assert status == 200
    agent = await collector.enrol("hh-zh")
    bundle = signed_bundle(agent)
    server.bundle = bundle
    server.values |= {"ticket_id": "1", "household": "hh-zh", "bundle_id": str(open_bundle(bundle).claimed.bundle_id)}
    await _open(collector, engineer, "hh-zh")
    await collector.upload(bundle)
    await eventually(lambda: "根本原因" in json.dumps(_comments(server), ensure_ascii=False), within=CONNECTOR_WAIT_S)
    text = json.dumps(_comments(server), ensure_ascii=False)
    for expected in (
        "症状：所有设备在 03:12 掉线。",
        "根本原因：路由器重启。",
        "解决方案：检查路由器电源。",
        "风险：低。",
    ):
        assert expected in text
    assert server.violations == []


@pytest.mark.parametrize("scan", [{"scan_interval_s": 0.05}])
async def test_sla_warnings_and_breaches_are_mirrored_as_internal_notes(
    collector: Collector, desk: tuple[str, ContractServer, str]
) -> None:
    _, server, _ = desk
    server.values |= {"ticket_id": "1", "household": "hh-sla"}
    engineer = collector.user("eve", Role.ENGINEER)
    await _open(collector, engineer, "hh-sla")
    collector.clock.advance(3 * 86400)  # the P2 first response is long overdue
    await eventually(lambda: "SLA breached: first_response" in json.dumps(_comments(server)), within=CONNECTOR_WAIT_S)
    assert all(c.get("public") is False for c in _comments(server)) and server.violations == []


HOSTILE_VALUES: list[Any] = [
    None,
    True,
    -1,
    1e308,
    "",
    " ",
    "../../etc/passwd",
    "x" * 5000,
    "\x00\x1f",
    "工单",
    [],
    {},
    [{"value": "hh"}],
    {"value": {"value": "hh"}},
    {"key": "done"},
]


def _hostile_bodies(name: str, seed: int, count: int) -> list[Any]:
    """Bodies shaped like the helpdesk's, with every field replaced by odd values (seeded, so a failure repeats)."""
    chooser = random.Random(seed)
    bodies: list[Any] = [[], "text", 7, None, {}]
    for _ in range(count):
        pick = lambda: chooser.choice(HOSTILE_VALUES)  # noqa: E731 - a fresh choice per field
        if name == "zendesk":
            bodies.append({"ticket_id": pick(), "status": pick(), "household": pick(), "homediag_ticket": pick()})
        else:
            bodies.append(
                {
                    "webhookEvent": pick(),
                    "issue": chooser.choice(
                        [
                            pick(),
                            {"key": pick(), "fields": pick()},
                            {
                                "key": pick(),
                                "fields": {
                                    "customfield_10051": pick(),
                                    "customfield_10050": pick(),
                                    "status": {"statusCategory": pick()},
                                    "summary": pick(),
                                },
                            },
                        ]
                    ),
                }
            )
    return bodies


async def test_hostile_signed_events_are_refused_never_a_server_error(
    collector: Collector, desk: tuple[str, ContractServer, str]
) -> None:
    name, _, _ = desk
    path = "/api/v1/connectors/desk/events"
    statuses = []
    for data in _hostile_bodies(name, seed=21, count=150):
        body = json.dumps(data).encode()
        status, answer = await _post(collector, path, body, _signed_event(name, body, INBOUND_SECRET, NOW))
        assert status in (200, 400), (data, answer)
        statuses.append(status)
    assert 400 in statuses and 200 in statuses
    huge = b'{"ticket_id": "1", "pad": "' + b"x" * 300_000 + b'"}'
    assert (await _post(collector, path, huge, _signed_event(name, huge, INBOUND_SECRET, NOW)))[0] == 413
    for headers in (
        {"X-Zendesk-Webhook-Signature-Timestamp": "not a time", "X-Zendesk-Webhook-Signature": "=="},
        {"X-Hub-Signature": "sha256=zz"},
    ):
        assert (await _post(collector, path, b"{}", headers))[0] == 401


async def test_an_answer_unlike_the_documented_one_fails_the_attempt_and_is_retried(
    collector: Collector, desk: tuple[str, ContractServer, str]
) -> None:
    _, server, _ = desk
    server.undocumented_answers = True
    engineer = collector.user("eve", Role.ENGINEER)
    await _open(collector, engineer, "hh-odd")
    store = collector.store()
    try:
        job = await eventually(
            lambda: next((j for j in delivery_log(store) if j["attempts"] >= 1), None), within=CONNECTOR_WAIT_S
        )
    finally:
        store.close()
    assert job["state"] == "pending" and "unlike its documented API" in job["last_error"]
    server.undocumented_answers = False
    server.values |= {"ticket_id": "1", "household": "hh-odd"}
    collector.clock.advance(60)  # past the backoff
    await eventually(lambda: any(s.exchange.startswith("create") for s in server.seen), within=CONNECTOR_WAIT_S)
    assert server.violations == []
