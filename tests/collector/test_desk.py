"""The engineer's workspace: intake form, public reply vs internal note, lifecycle moves, level, assignment and
"assigned to me", milestones, readable history, search (FTS5) — all through the HTML forms with CSRF."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.models import Role
from collector.store.search import match_expression

from .conftest import Collector
from .sessions import sign_in
from .test_images import GPS, chunk, png


@pytest.fixture
def config_overrides() -> dict[str, object]:
    return {"support": {"timezone": "Asia/Shanghai"}}


async def test_an_engineer_works_a_ticket_from_intake_to_resolution(collector: Collector) -> None:
    eve = await sign_in(collector, "eve", Role.ENGINEER)
    status, _, form = await eve.get("/ui/tickets/new")
    assert status == 200
    for field in ("household", "customer", "device", "firmware", "when", "symptom", "environment", "impact", "channel"):
        assert f'name="{field}"' in form, field
    status, text = await eve.post("/ui/tickets", {"household": "hh-9", "device": "", "symptom": "x", "when": "now"})
    assert status == 400 and "device" in text and 'value="hh-9"' in text  # refused, and the form comes back filled
    for bad in (
        {"timezone": "Mars/Olympus"},
        {"language": "tlh"},
        {"email": "not-an-address"},
        {"occurred_from": "yesterday"},
    ):
        status, text = await eve.post(
            "/ui/tickets", {"household": "hh-9", "device": "d", "symptom": "x", "when": "now", **bad}
        )
        assert status == 400 and 'id="form-error"' in text, bad
    answer = await collector.client.post(
        "/ui/tickets/1/notes",
        data=b"--x\r\nbroken\r\n",
        headers={"Cookie": eve.cookie, "Accept": "text/html", "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert answer.status == 400 and answer.content_type == "text/html"
    collector.client.session.cookie_jar.clear()
    status, where = await eve.post(
        "/ui/tickets",
        {
            "household": "hh-9",
            "customer": "Li Wei, 138-0000-0000",
            "device": "Aqara curtain E1",
            "firmware": "0.0.0_0023",
            "when": "every night at 03:00",
            "occurred_from": "2026-11-24T03:00",
            "symptom": "the curtain ignores the app",
            "environment": "TP-Link router",
            "impact": "one device, one family",
            "channel": "hotline",
            "priority": "P2",
            "email": "li@example.com",
            "language": "zh",
            "timezone": "Asia/Shanghai",
        },
        image=png(chunk(b"tEXt", b"Comment\x00" + GPS)),
    )
    assert status == 303
    moved_to = re.search(r"/ui/tickets/(\d+)", where)
    assert moved_to is not None, where
    tid = int(moved_to.group(1))
    url = f"/ui/tickets/{tid}"
    _, complaint = await collector.call(
        "POST", f"/api/v1/tickets/{tid}/complaints", collector.user("li", Role.ENGINEER), json={"text": "too slow"}
    )
    await eve.get(url)
    for action, form_data in (
        ("notes", {"text": "Router reboots nightly; we will change its schedule.", "visibility": "public"}),
        ("notes", {"text": "Customer's router is an old model.", "visibility": "internal"}),
        ("transition", {"to": "diagnosing", "note": "looks like the router"}),
        ("priority", {"priority": "P1", "reason": "the whole home is affected"}),
        ("assign", {"assignee": "@me", "group": "support"}),
        ("milestones", {"name": "root_cause_found", "text": "The router restarts at 03:00."}),
        ("updates", {"text": "Changing the router's schedule tonight.", "expected_by": "2026-11-25T09:00"}),
        ("classify", {"type": "human_error", "cause": "router restart at 03:00", "impact": "curtain unreachable"}),
        ("complaints/milestones", {"complaint_id": str(complaint["id"]), "name": "ack"}),
        (
            "transition",
            {
                "to": "resolved",
                "solution": "configuration",
                "root_cause": "scheduled router restart",
                "solution_text": "moved the restart to 05:00",
                "advice": "keep the hub on wired Ethernet",
            },
        ),
    ):
        status, where = await eve.post(f"{url}/{action}", form_data)
        assert status == 303, (action, where)
    status, _, page = await eve.get(url)
    assert status == 200
    history = page[page.index('id="history"') :]
    assert re.search(r'class="entry event-public_reply public">.*?Public reply', history, re.S)
    assert re.search(r'class="entry event-internal_note internal">.*?Internal note', history, re.S)
    assert (
        "moved it from <b>new</b> to <b>diagnosing</b>" in history
        and "changed the level from P2 to <b>P1</b>" in history
    )
    assert "metadata removed" in history and "screenshot.png" in history
    assert (
        "assigned it to <b>eve</b>" in history and "moved the restart to 05:00" in history and "{&#34;" not in history
    )
    assert "Changing the router&#39;s schedule tonight." in history and "next by 2026-11-25 09:00 CST" in history
    assert f"complaint {complaint['id']}: ack" in history
    assert "classified it as human error: router restart at 03:00 (curtain unreachable)" in history
    assert '<datalist id="staff-names"><option value="@me"><option value="eve">' in page  # who can take it
    assert "2026-11-24 11:30 CST" in page  # the organisation's zone (Asia/Shanghai here) on engineer pages
    assert "(from 2026-11-24 03:00 CST)" in page  # the form's local time was read in that zone
    status, _, mine = await eve.get("/ui/?mine=1")
    assert f'href="/ui/tickets/{tid}"' in mine
    for query, found in (
        ("curtain", True),
        ("old model", True),
        ("Li Wei", True),
        ("hh-9", True),
        ("nothing-like-it", False),
        ('"AND(', False),
        ("*", False),
    ):
        status, _, hits = await eve.get(f"/ui/search?q={query}")
        assert status == 200 and (f'href="/ui/tickets/{tid}"' in hits) is found, query
    # a move the lifecycle does not allow is a clear page, and nothing changes
    status, text = await eve.post(f"{url}/transition", {"to": "new"})
    assert status == 409 and "<html" in text and "cannot move to new" in text


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_any_search_words_are_a_valid_fts5_expression(words: str) -> None:
    import sqlite3

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    conn.execute("INSERT INTO t VALUES ('curtain router')")
    expression = match_expression(words)
    if expression:
        conn.execute("SELECT * FROM t WHERE t MATCH ?", (expression,)).fetchall()


async def test_bulk_changes_say_ticket_by_ticket_what_happened(collector: Collector) -> None:
    token = collector.user("api", Role.ENGINEER)
    ids = []
    for device in ("plug", "lamp", "lock"):
        _, ticket = await collector.call(
            "POST",
            "/api/v1/tickets",
            token,
            json={"household": "hh-b", "device": device, "symptom": "off", "when": "now", "priority": "P3"},
        )
        ids.append(str(ticket["id"]))
    assert (await collector.call("POST", f"/api/v1/tickets/{ids[2]}/transition", token, json={"to": "closed"}))[
        0
    ] == 201
    eve = await sign_in(collector, "eve", Role.ENGINEER)
    _, _, queue = await eve.get("/ui/")
    assert 'form="bulk"' in queue
    answer = await collector.client.post(
        "/ui/bulk",
        headers={"Cookie": eve.cookie, "Accept": "text/html"},
        data=[("csrf", eve.csrf), ("action", "assign"), ("assignee", "@me")] + [("ticket", i) for i in ids[:2]],
    )
    assert answer.status == 200 and (await answer.text()).count("done") == 2
    _, _, mine = await eve.get("/ui/?mine=1")
    assert all(f'href="/ui/tickets/{i}"' in mine for i in ids[:2])
    answer = await collector.client.post(
        "/ui/bulk",
        headers={"Cookie": eve.cookie, "Accept": "text/html"},
        data=[("csrf", eve.csrf), ("action", "move"), ("to", "triaged")] + [("ticket", i) for i in ids],
    )
    results = await answer.text()
    assert results.count("done") == 2 and "a closed ticket cannot move to triaged" in results
    collector.client.session.cookie_jar.clear()
    pat = await sign_in(collector, "pat", Role.PARTNER)
    _, _, queue = await pat.get("/ui/")
    assert 'form="bulk"' not in queue


async def test_a_bundle_moves_to_another_ticket_of_the_household(collector: Collector) -> None:
    from datetime import timedelta

    token = collector.user("api", Role.ENGINEER)
    agent = await collector.enrol("hh-m")
    first = (
        await collector.call(
            "POST",
            "/api/v1/tickets",
            token,
            json={"household": "hh-m", "device": "plug", "symptom": "off", "when": "now", "priority": "P3"},
        )
    )[1]["id"]
    status, _, _ = await collector.upload(agent.bundle(start=collector.clock() - timedelta(minutes=20)))
    assert status == 201
    second = (
        await collector.call(
            "POST",
            "/api/v1/tickets",
            token,
            json={"household": "hh-m", "device": "lamp", "symptom": "dark", "when": "now", "priority": "P3"},
        )
    )[1]["id"]
    _, shown = await collector.call("GET", f"/api/v1/tickets/{first}", token)
    bundle_id = shown["bundles"][0]["bundle_id"]
    eve = await sign_in(collector, "eve", Role.ENGINEER)
    await eve.get(f"/ui/tickets/{first}")
    status, where = await eve.post(
        f"/ui/tickets/{first}/bundles/move",
        {"bundle_id": bundle_id, "to_ticket": str(second), "reason": "it is the lamp's fault"},
    )
    assert status == 303 and where.startswith(f"/ui/tickets/{second}")
    _, moved = await collector.call("GET", f"/api/v1/tickets/{second}", token)
    assert [b["bundle_id"] for b in moved["bundles"]] == [bundle_id]
    status, text = await eve.post(
        f"/ui/tickets/{first}/bundles/move", {"bundle_id": bundle_id, "to_ticket": "x", "reason": "r"}
    )
    assert status == 404 and "<html" in text


async def test_an_intake_time_without_a_zone_is_refused_by_the_api(collector: Collector) -> None:
    token = collector.user("api", Role.ENGINEER)
    status, body = await collector.call(
        "POST",
        "/api/v1/tickets",
        token,
        json={
            "household": "hh-z",
            "device": "plug",
            "symptom": "off",
            "when": "now",
            "priority": "P3",
            "occurred_from": "2026-11-24T03:00:00",
        },
    )
    assert status == 400 and body["error"]["code"] == "body_invalid"


async def test_the_desk_speaks_the_readers_language(collector: Collector) -> None:
    eve = await sign_in(collector, "eve", Role.ENGINEER)
    _, _, page = await eve.get("/ui/")
    assert '<html lang="en">' in page and "Assigned to me" in page and 'href="/ui/language/zh?next=/ui/"' in page
    answer = await collector.client.get("/ui/", headers={"Cookie": eve.cookie, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert "分配给我的" in await answer.text()  # the browser's preference without a choice
    for target, landing in (
        ("/ui/?mine=1", "/ui/?mine=1"),
        ("https://elsewhere.example/", "/ui/"),
        ("//elsewhere.example/ui/", "/ui/"),
        ("/ui/%0d%0aSet-Cookie:%20x=1", None),
    ):
        answer = await collector.client.get(f"/ui/language/zh?next={target}", allow_redirects=False)
        assert answer.status in (303, 400), target
        if landing is not None:
            assert answer.headers["Location"] == landing and answer.cookies["homediag_language"].value == "zh"
        assert "Set-Cookie: x" not in str(answer.headers)
        collector.client.session.cookie_jar.clear()
    assert (await collector.client.get("/ui/language/tlh", allow_redirects=False)).status == 404
    answer = await collector.client.get("/ui/", headers={"Cookie": f"{eve.cookie}; homediag_language=zh"})
    page = await answer.text()
    assert '<html lang="zh">' in page and "分配给我的" in page and "Assigned to me" not in page
    answer = await collector.client.get(
        "/ui/?state=bogus", headers={"Cookie": f"{eve.cookie}; homediag_language=zh", "Accept": "text/html"}
    )
    assert answer.status == 400 and "状态必须是以下之一" in await answer.text()
