"""Every page in both languages, in headless Chromium: each is screenshotted (into HOMEDIAG_SCREENSHOT_DIR, by
default the test's temporary directory) and checked for server errors, template leftovers, untranslated keys
(``⟦…⟧``), English left on a Chinese page and Chinese on an English one. Desk pages as an admin (every link of the
header), a partner's queue and refusal, the sign-in page, and the customer's portal in the household's language."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from collector.store.contacts import Language
from collector.web.desk_text import PHRASES_ZH, WORDS_ZH
from collector.web.portal_text import PORTAL_TEXT, STATE_WORDS
from tests.browser import CHROMIUM, CHROMIUM_ARGS

from .conftest import Seeded

pytestmark = pytest.mark.browser

# Text on the pages that is not ours to translate: what people wrote, the hub's diagnosis (it comes in the bundle,
# in the agent's words), firmware profiles' issue titles, bundle files, the chart (checked through its labels), a
# validator's technical detail under a translated refusal.
NOT_OURS = (
    "#diagnosis, #known-issues tbody, #fleet tbody, #firmware tbody, .bundle p, svg, textarea, input, select, .languages, #intake,"
    " .detail"
)
LEFTOVERS = ("Internal Server Error", "Traceback", "{{", "{%", "⟦", "undefined", "None")
TEMPLATES = Path(__file__).parents[2] / "collector" / "web" / "templates"


def _english_fragments() -> set[str]:
    """The English of the desk's phrases and words and the portal's texts, cut at their placeholders."""
    texts = [*PHRASES_ZH, *PORTAL_TEXT[Language.EN].values(), *STATE_WORDS[Language.EN].values()]
    texts += [w for w in WORDS_ZH if len(w) >= 7 or " " in w]  # short words ("app", "all") occur in what people write
    fragments = set()
    for text in texts:
        for fragment in re.split(r"%\(\w+\)s|%%|<[^>]+>|[“”()·:—,.]", text):
            fragment = fragment.strip()
            if len(fragment) >= 4 and re.search(r"[a-z]{3}", fragment) and fragment not in ("homediag",):
                fragments.add(fragment)
    return fragments


ENGLISH = _english_fragments()


def test_every_phrase_of_the_templates_is_in_the_catalog() -> None:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"\)', template.read_text()))
        used |= set(re.findall(r"_\('([^']*)'\)", template.read_text()))
    assert len(used) > 150 and not used - set(PHRASES_ZH), used - set(PHRASES_ZH)


async def _visible_text(page: Page) -> str:
    return str(
        await page.evaluate(
            """skip => { const copy = document.body.cloneNode(true);
            copy.querySelectorAll(skip).forEach(node => node.remove()); return copy.innerText; }""",
            NOT_OURS,
        )
    )


@dataclass
class Shots:
    folder: Path
    url: str  # the collector's
    taken: list[tuple[str, str]] = field(default_factory=list)  # (language, page)
    server_errors: list[str] = field(default_factory=list)  # every answer >= 500 any page received


async def _new_page(browser: Browser, shots: Shots) -> Page:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    page.set_default_timeout(15_000)
    page.on("response", lambda answer: shots.server_errors.append(answer.url) if answer.status >= 500 else None)
    return page


async def _check(page: Page, shots: Shots, language: str, name: str) -> str:
    """Screenshot the page and check it; returns its whole text."""
    await page.screenshot(path=str(shots.folder / f"page-{language}-{name}.png"), full_page=True)
    shots.taken.append((language, name))
    text = await page.inner_text("body")
    for bad in LEFTOVERS:
        assert bad not in text, (language, name, bad)
    assert await page.get_attribute("html", "lang") == language, name
    ours = await _visible_text(page)
    if language == "zh":
        left = sorted(f for f in ENGLISH if re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", ours))
        assert not left, (name, left)
    else:
        assert not re.search(r"[\u4e00-\u9fff]", ours), (name, re.findall(r"[\u4e00-\u9fff]+", ours))
    return text


async def _open(page: Page, url: str, status: int = 200) -> None:
    answer = await page.goto(url)
    assert answer is not None and answer.status == status, (url, answer.status if answer else None)
    assert answer.headers["content-type"].startswith("text/html"), url


async def _sign_in(browser: Browser, shots: Shots, url: str, name: str, language: str) -> Page:
    page = await _new_page(browser, shots)
    await page.goto(f"{url}/ui/language/{language}?next=/ui/login")
    await page.fill("#name", name)
    await page.fill("#password", f"pass-{name}")
    await page.click("#sign-in")
    await page.wait_for_load_state()
    return page


async def test_every_page_in_both_languages(seeded: Seeded, tmp_path: Path) -> None:
    collector, tid, token = seeded.collector, seeded.ticket_id, seeded.engineer_token
    shots = Shots(Path(os.environ.get("HOMEDIAG_SCREENSHOT_DIR", tmp_path)), collector.url)
    for name, role, extra in (
        ("ada", "admin", []),
        ("pat", "partner", []),
        ("carol", "customer", ["--household", "hh-ui"]),
    ):
        collector.admin("user", "create", "--name", name, "--role", role, *extra, "--password", f"pass-{name}")
    for path, body in (  # something of every kind in the history
        ("notes", {"text": "We are looking at the logs.", "visibility": "public"}),
        ("notes", {"text": "router looks cheap", "visibility": "internal"}),
        ("transition", {"to": "triaged"}),
        ("transition", {"to": "diagnosing", "note": "called them twice"}),
        ("priority", {"priority": "P1", "reason": "the whole home"}),
        ("assign", {"assignee": "eve", "group": "emergency", "partner": "pat"}),
        ("classify", {"type": "network", "cause": "router reboot", "impact": "degraded"}),
        ("milestones", {"name": "root_cause_found", "text": "The router reboots at 03:00."}),
        ("updates", {"text": "Moving the reboot window."}),
        ("complaints", {"text": "too slow"}),
        ("complaints/milestones", {"name": "ack"}),
    ):
        status, answer = collector.request("POST", f"/api/v1/tickets/{tid}/{path}", token=token, body=body)
        assert status == 201, (path, answer)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for language in ("en", "zh"):
                _speak(seeded, language)
                await _desk_pages(browser, collector.url, tid, language, shots)
                await _portal_pages(browser, collector.url, tid, language, shots)
            # later in the ticket's life: the customer is asked to confirm, then it is resolved with its report
            for path, body in (
                ("transition", {"to": "solution", "solution": "configuration"}),
                ("transition", {"to": "awaiting_confirmation"}),
            ):
                assert collector.request("POST", f"/api/v1/tickets/{tid}/{path}", token=token, body=body)[0] == 201
            for language in ("en", "zh"):
                _speak(seeded, language)
                await _visit(
                    browser, shots, language, "carol", [(f"/portal/tickets/{tid}", "#confirm", "portal-confirm")]
                )
            report = {"root_cause": "nightly router restart", "solution": "moved to 05:00", "advice": "keep it"}
            resolve = {"to": "resolved", "report": report}
            assert collector.request("POST", f"/api/v1/tickets/{tid}/transition", token=token, body=resolve)[0] == 201
            for language in ("en", "zh"):
                _speak(seeded, language)
                await _visit(
                    browser,
                    shots,
                    language,
                    "carol",
                    [
                        (f"/portal/tickets/{tid}", "#service-report", "portal-resolved"),
                        (f"/portal/tickets/{tid}/rate", "#rate-form", "portal-rate-form"),
                    ],
                )
                await _visit(browser, shots, language, "ada", [(f"/ui/tickets/{tid}", "#history", "ticket-resolved")])
        finally:
            await browser.close()
    english, chinese = ([page for lang, page in shots.taken if lang == language] for language in ("en", "zh"))
    assert english == chinese and len(english) >= 20
    assert not shots.server_errors, shots.server_errors


async def _visit(browser: Browser, shots: Shots, language: str, name: str, pages: list[tuple[str, str, str]]) -> None:
    """Sign in as ``name`` and check each (path, a selector the page must show, screenshot name)."""
    page = await _sign_in(browser, shots, shots.url, name, language)
    for path, shown, shot in pages:
        await _open(page, f"{shots.url}{path}")
        await page.wait_for_selector(shown)
        await _check(page, shots, language, shot)
    await page.close()


def _speak(seeded: Seeded, language: str) -> None:
    """The household's language and zone, for the portal's pages."""
    status, _ = seeded.collector.request(
        "PUT",
        "/api/v1/households/hh-ui/contact",
        token=seeded.engineer_token,
        body={"language": language, "timezone": "Asia/Shanghai"},
    )
    assert status == 200


async def _desk_pages(browser: Browser, url: str, tid: int, language: str, shots: Shots) -> None:
    page = await _new_page(browser, shots)
    await page.goto(f"{url}/ui/language/{language}?next=/ui/login")
    await page.fill("#name", "ada")
    await page.fill("#password", "wrong")
    await page.click("#sign-in")
    await _check(page, shots, language, "login-refused")
    await page.fill("#name", "ada")
    await page.fill("#password", "pass-ada")
    await page.click("#sign-in")
    await page.wait_for_selector("#queue")
    await _check(page, shots, language, "queue")
    for link in ("nav-mine", "nav-new", "nav-fleet", "nav-deliveries", "nav-reports"):  # every link of the header
        await page.goto(f"{url}/ui/")
        await page.click(f"#{link}")
        await page.wait_for_load_state()
        await _check(page, shots, language, link.removeprefix("nav-"))
    for name, path, status in (
        ("ticket", f"/ui/tickets/{tid}", 200),
        ("filtered", "/ui/?state=diagnosing&priority=P1", 200),
        ("search", "/ui/search?q=curtain", 200),
        ("search-nothing", "/ui/search?q=zzzz", 200),
        ("bad-filter", "/ui/?state=bogus", 400),
        ("missing-ticket", "/ui/tickets/999999", 404),
    ):
        await _open(page, f"{url}{path}", status)
        await _check(page, shots, language, name)
    await page.goto(f"{url}/ui/tickets/new")
    for name, value in (("household", "hh-ui"), ("device", "plug"), ("when", "now"), ("symptom", "clicks")):
        await page.fill(f"#f-{name}", value)
    await page.fill("#f-timezone", "Mars/Olympus")  # refused: the form comes back filled in, saying why
    await page.click("#f-submit")
    await page.wait_for_selector("#form-error")
    await _check(page, shots, language, "new-ticket-refused")
    await page.goto(f"{url}/ui/")
    await page.check(f"input[name=ticket][value='{tid}']")
    await page.click("#bulk-go")
    await page.wait_for_selector("#bulk-results")
    await _check(page, shots, language, "bulk")
    await page.close()

    partner = await _sign_in(browser, shots, url, "pat", language)
    await _check(partner, shots, language, "partner-queue")
    await _open(partner, f"{url}/ui/fleet", 403)
    await _check(partner, shots, language, "partner-refused")
    await partner.close()


async def _portal_pages(browser: Browser, url: str, tid: int, language: str, shots: Shots) -> None:
    carol = await _sign_in(browser, shots, url, "carol", language)
    await carol.wait_for_selector("#portal-tickets")
    await _check(carol, shots, language, "portal-home")
    for name, path, status in (
        ("portal-ticket", f"/portal/tickets/{tid}", 200),
        ("portal-rate", f"/portal/tickets/{tid}/rate", 200),
        ("portal-missing", "/portal/tickets/999999", 404),
    ):
        await _open(carol, f"{url}{path}", status)
        text = await _check(carol, shots, language, name)
        assert "router looks cheap" not in text and "called them twice" not in text
    await carol.close()
