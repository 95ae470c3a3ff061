"""The customer portal: a customer sees their household's tickets with public replies only, and can add
information, confirm the fix, rate it and complain. The privacy walk requests every page and API route a
customer can reach and looks for each piece of internal writing in every answer."""

from __future__ import annotations

import re

from collector.models import Role

from .conftest import Collector
from .sessions import sign_in

# Internal writing, each in a different place staff can write it.
SECRETS = {
    "internal_note": "SECRET-note-router-password-is-hunter2",
    "transition_remark": "SECRET-remark-customer-seems-confused",
    "priority_reason": "SECRET-reason-vip-escalation",
    "legacy_staff_note": "SECRET-legacy-note-before-visibility",
    "classification": "SECRET-cause-firmware-bug-we-shipped",
    "complaint_report": "SECRET-complaint-report-engineer-was-rude",
    "partner": "SECRET-partner-acme-repairs",
    "staff_image": "SECRET-image-name-customer-house-keys.png",
}
PUBLIC_REPLY = "We are looking at the curtain logs now."


async def _story(collector: Collector) -> int:
    eve = collector.user("eve-api", Role.ENGINEER)
    status, ticket = await collector.call(
        "POST",
        "/api/v1/tickets",
        eve,
        json={
            "household": "hh-1",
            "device": "curtain",
            "symptom": "ignores the app at night",
            "when": "nightly",
            "priority": "P2",
        },
    )
    tid = ticket["id"]
    steps = [
        ("notes", {"text": SECRETS["internal_note"], "visibility": "internal"}),
        ("notes", {"text": PUBLIC_REPLY, "visibility": "public"}),
        ("transition", {"to": "diagnosing", "note": SECRETS["transition_remark"]}),
        ("priority", {"priority": "P1", "reason": SECRETS["priority_reason"]}),
        ("classify", {"type": "software", "cause": SECRETS["classification"], "impact": "degraded"}),
        ("assign", {"group": "support", "partner": SECRETS["partner"], "assignee": "eve"}),
        ("milestones", {"name": "root_cause_found", "text": "The hub lost its Wi-Fi at 03:00."}),
        ("complaints", {"text": "slow answers"}),
        ("complaints/milestones", {"name": "close", "report": SECRETS["complaint_report"]}),
        ("transition", {"to": "solution", "solution": "configuration"}),
        ("transition", {"to": "awaiting_confirmation"}),
    ]
    for path, body in steps:
        status, answer = await collector.call("POST", f"/api/v1/tickets/{tid}/{path}", eve, json=body)
        assert status == 201, (path, answer)
    store = collector.store()
    try:  # an image staff filed, and a staff note from before visibilities existed (kind "note"): internal
        store.append_ticket_event(
            tid,
            "eve",
            "image",
            {"sha256": "ab" * 32, "type": "image/png", "size": 1, "name": SECRETS["staff_image"], "role": "engineer"},
            collector.clock(),
        )
        store.append_ticket_event(
            tid, "eve", "note", {"text": SECRETS["legacy_staff_note"], "role": "engineer"}, collector.clock()
        )
    finally:
        store.close()
    return tid


def _leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


async def test_a_customer_reaches_no_internal_writing_anywhere(collector: Collector) -> None:
    tid = await _story(collector)
    carol = await sign_in(collector, "carol", Role.CUSTOMER, "hh-1")
    carol_token = collector.tokens["carol"]
    status, _, page = await carol.get(f"/portal/tickets/{tid}")
    assert status == 200 and PUBLIC_REPLY in page and "The hub lost its Wi-Fi" in page
    reached = 0
    for route in collector.client.app.router.routes():
        if route.method != "GET":
            continue
        path = route.resource.canonical
        concrete = (
            path.replace("{ticket_id}", str(tid))
            .replace("{bundle_id}", "x")
            .replace("{agent_id}", "x")
            .replace("{path}", "x")
            .replace("{name}", "desk.js")
            .replace("{sha256}", "0" * 64)
        )
        for query in ("", "?q=SECRET", "?state=new", "?household=hh-1"):
            _, _, text = await carol.get(concrete + query)  # the pages, following every redirect
            assert not _leaks(text), (concrete + query, _leaks(text))
            status, body = await collector.call("GET", concrete + query, carol_token)  # the API
            text = body.decode(errors="replace") if isinstance(body, bytes) else repr(body)
            assert not _leaks(text), (concrete + query, _leaks(text))
            reached += status == 200
    assert reached >= 5
    # every link on the customer's pages goes somewhere the customer may go
    _, _, home = await carol.get("/portal/")
    for link in set(re.findall(r'<a [^>]*href="([^"]+)"', home + page)):
        status, content_type, text = await carol.get(link)
        assert status == 200 and content_type == "text/html", link
        assert not _leaks(text)


async def test_the_customer_adds_information_confirms_rates_and_complains(collector: Collector) -> None:
    tid = await _story(collector)
    carol = await sign_in(collector, "carol", Role.CUSTOMER, "hh-1")
    await carol.get(f"/portal/tickets/{tid}")
    assert (await carol.post(f"/portal/tickets/{tid}/notes", {"text": "It also happens at 04:00."}))[0] == 303
    assert (await carol.post(f"/portal/tickets/{tid}/confirm", {}))[0] == 303
    status, _, page = await carol.get(f"/portal/tickets/{tid}/rate")
    assert status == 200 and 'id="rate-form"' in page
    rated = await carol.post(f"/portal/tickets/{tid}/rate", {"satisfaction": "4", "comment": "quick, thanks"})
    assert rated[0] == 303, rated[1][-600:]
    assert (await carol.post(f"/portal/tickets/{tid}/complaints", {"text": "the first answer took a day"}))[0] == 303
    _, _, page = await carol.get(f"/portal/tickets/{tid}")
    assert "It also happens at 04:00." in page and "quick, thanks" in page and "the first answer took a day" in page
    status, ticket = await collector.call("GET", f"/api/v1/tickets/{tid}", collector.tokens["eve-api"])
    kinds = [(e["kind"], e["actor"]) for e in ticket["events"]]
    assert ("note", "carol") in kinds and ("follow_up", "carol") in kinds and ("complaint", "carol") in kinds
    follow_up = next(e for e in ticket["events"] if e["kind"] == "follow_up")
    assert follow_up["data"]["satisfaction"] == 4 and follow_up["data"]["comment"] == "quick, thanks"
    # a bad rating and a forged form are refused as pages, and nothing is written
    status, text = await carol.post(f"/portal/tickets/{tid}/rate", {"satisfaction": "9"})
    assert status in (400, 409) and "<html" in text
    carol.csrf = "forged"
    status, text = await carol.post(f"/portal/tickets/{tid}/notes", {"text": "forged"})
    assert status == 403 and "<html" in text


async def test_a_customer_sees_only_their_household(collector: Collector) -> None:
    tid = await _story(collector)
    dave = await sign_in(collector, "dave", Role.CUSTOMER, "hh-2")
    status, content_type, text = await dave.get(f"/portal/tickets/{tid}")
    assert status == 404 and content_type == "text/html" and "curtain" not in text
    _, _, home = await dave.get("/portal/")
    assert f"/portal/tickets/{tid}" not in home


async def test_roles_see_only_links_they_can_use_and_refusals_are_pages(collector: Collector) -> None:
    await _story(collector)
    pat = await sign_in(collector, "pat", Role.PARTNER)
    _, _, queue = await pat.get("/ui/")
    assert "/ui/fleet" not in queue and "/ui/reports" not in queue and "/ui/tickets/new" not in queue
    for path in ("/ui/fleet", "/ui/reports", "/ui/tickets/new"):
        status, content_type, text = await pat.get(path)
        assert (status, content_type) == (403, "text/html") and "Not available to you" in text, path
    # the partner the ticket is assigned to: every link on its page opens, and it offers only forms partners may use
    acme = await sign_in(collector, SECRETS["partner"], Role.PARTNER)
    _, _, queue = await acme.get("/ui/")
    tid = int(re.findall(r'href="/ui/tickets/(\d+)"', queue)[0])
    status, _, page = await acme.get(f"/ui/tickets/{tid}")
    assert status == 200
    for link in set(re.findall(r'<a [^>]*href="(/[^"]*)"', page)) - {f"/ui/tickets/{tid}/images/{'ab' * 32}"}:
        assert (await acme.get(link.replace("&amp;", "&")))[0] == 200, link  # (the story's staff image has no bytes)
    actions = {
        action.removeprefix(f"/ui/tickets/{tid}/") for action in re.findall(r'<form [^>]*action="([^"]+)"', page)
    }
    assert actions <= {"notes", "transition", "updates", "classify", "milestones", "/ui/search", "/ui/logout"}, actions
    assert 'id="live-refresh"' not in page
    eve = await sign_in(collector, "eve", Role.ENGINEER)
    _, _, queue = await eve.get("/ui/")
    _, _, report = await eve.get("/ui/reports")
    for link in set(re.findall(r'<a [^>]*href="(/[^"]*)"', queue + report)):
        status, _, _ = await eve.get(link.replace("&amp;", "&"))
        assert status == 200, link
    status, content_type, text = await eve.get("/ui/?state=bogus")
    assert (status, content_type) == (400, "text/html") and "state must be one of" in text
    carol = await sign_in(collector, "carol", Role.CUSTOMER, "hh-1")
    status, _, text = await carol.get("/ui/reports")
    assert status == 200 and "Your tickets" in text  # a customer on the desk's pages lands on their own


def test_the_customer_view_is_an_allow_list() -> None:
    from collector.support.events import CUSTOMER_KINDS, EventKind

    assert EventKind.INTERNAL_NOTE not in CUSTOMER_KINDS and EventKind.SLA_BREACHED not in CUSTOMER_KINDS
    assert EventKind.ASSIGNED not in CUSTOMER_KINDS and EventKind.PRIORITY_CHANGED not in CUSTOMER_KINDS


async def test_the_portal_speaks_the_households_language_with_no_english_left(collector: Collector) -> None:
    from collector.store.contacts import Language
    from collector.web.portal_text import PORTAL_TEXT, STATE_WORDS

    assert all(set(words) == set(PORTAL_TEXT[Language.EN]) for words in PORTAL_TEXT.values())
    assert all(set(words) == set(STATE_WORDS[Language.EN]) for words in STATE_WORDS.values())
    tid = await _story(collector)
    assert (
        await collector.call(
            "PUT",
            "/api/v1/households/hh-1/contact",
            collector.tokens["eve-api"],
            json={"language": "zh", "timezone": "Asia/Shanghai"},
        )
    )[0] == 200
    carol = await sign_in(collector, "carol", Role.CUSTOMER, "hh-1")
    english = {*PORTAL_TEXT[Language.EN].values(), *STATE_WORDS[Language.EN].values()}
    for path in ("/portal/", f"/portal/tickets/{tid}", f"/portal/tickets/{tid}/rate"):
        status, _, page = await carol.get(path)
        visible = re.sub(r"<[^>]+>", " ", page)
        assert status == 200 and 'lang="zh"' in page and ("CST" in page or path.endswith("/rate"))
        assert not [text for text in english if text in visible], (path, [text for text in english if text in visible])
    assert "请确认是否已修复" in (await carol.get(f"/portal/tickets/{tid}"))[2]
