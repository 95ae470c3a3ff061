"""Roles against endpoints: a customer of one household gets nothing of another."""

from __future__ import annotations

from collector.models import Role

from .conftest import NOW, Collector

INTAKE = {"device": "curtain", "symptom": "no remote control", "when": "nightly at 03:00", "priority": "P2"}


async def test_a_customer_sees_only_their_own_household(collector: Collector) -> None:
    engineer = collector.user("eve", Role.ENGINEER)
    alice = collector.user("alice", Role.CUSTOMER, "hh-a")
    bob = collector.user("bob", Role.CUSTOMER, "hh-b")
    agent_b = await collector.enrol("hh-b")
    status, ticket_b = await collector.call("POST", "/api/v1/tickets", bob, json=INTAKE)
    assert status == 201 and ticket_b["household"] == "hh-b"
    status, uploaded, _ = await collector.upload(agent_b.bundle(start=NOW))
    assert status == 201 and uploaded["ticket_id"] == ticket_b["id"]
    bundle_id = uploaded["bundle_id"]

    for path in (
        f"/api/v1/tickets/{ticket_b['id']}",
        f"/api/v1/bundles/{bundle_id}",
        f"/api/v1/bundles/{bundle_id}/meta",
    ):
        status, body = await collector.call("GET", path, alice)
        assert status == 404 and body["error"]["code"] in ("not_found", "ticket_not_found"), (path, body)
        assert (await collector.call("GET", path, bob))[0] == 200
        assert (await collector.call("GET", path, engineer))[0] == 200
    for path, key in (("/api/v1/tickets", "tickets"), ("/api/v1/bundles", "bundles"), ("/api/v1/agents", "agents")):
        assert (await collector.call("GET", path, alice))[1][key] == []
        assert (await collector.call("GET", f"{path}?household=hh-b", alice))[1][key] == []
        assert len((await collector.call("GET", path, bob))[1][key]) == 1
    status, _ = await collector.call("POST", f"/api/v1/tickets/{ticket_b['id']}/notes", alice, json={"text": "hi"})
    assert status == 404
    status, _ = await collector.call("POST", "/api/v1/tickets", alice, json={**INTAKE, "household": "hh-b"})
    assert status == 404
    status, body = await collector.call("POST", f"/api/v1/agents/{agent_b.agent_id}/revoke", bob)
    assert (status, body["error"]["code"]) == (403, "role_forbidden")


async def test_every_api_route_but_the_public_ones_needs_a_token(collector: Collector) -> None:
    public = {
        ("GET", "/healthz"),
        ("GET", "/api/v1/openapi.json"),
        ("POST", "/api/v1/enroll"),
        ("POST", "/api/v1/bundles"),
        # Authenticated by a helpdesk's own signature and by a signed link (tests/connectors): no bearer token.
        ("POST", "/api/v1/connectors/{helpdesk}/events"),
        ("GET", "/api/v1/connectors/downloads/{bundle_id}"),
        ("GET", "/metrics"),  # loopback or the metrics token, not a user's: tests/collector/test_metrics.py
    }
    for route in collector.client.app.router.routes():
        method, path = route.method, route.resource.canonical
        if method == "HEAD" or (method, path) in public or path.startswith(("/ui/", "/portal/")):
            continue
        concrete = (
            path.replace("{ticket_id}", "1")
            .replace("{bundle_id}", "x")
            .replace("{agent_id}", "x")
            .replace("{method}", "inventory")
            .replace("{household}", "hh")
        )
        for token in (None, "hdu_forged"):
            status, body = await collector.call(method, concrete, token)
            assert (status, body["error"]["code"]) == (401, "unauthorized"), (method, path)


async def test_reading_a_bundle_is_audited(collector: Collector) -> None:
    engineer = collector.user("eve", Role.ENGINEER)
    agent = await collector.enrol("hh-a")
    _, uploaded, _ = await collector.upload(agent.bundle(start=NOW))
    status, data = await collector.call("GET", f"/api/v1/bundles/{uploaded['bundle_id']}", engineer)
    assert status == 200 and data[:2] == b"\x1f\x8b"
    store = collector.store()
    try:
        [entry] = store.audit_log(target=uploaded["bundle_id"])
    finally:
        store.close()
    assert (entry["actor"], entry["action"]) == ("eve", "bundle.read")
