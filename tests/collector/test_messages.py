"""Every customer message in both languages: a subject, a plain-text body and an HTML body that say the same
things (level, next step and expected time; the milestone; the service report; the survey link…), with the
customer-visible text escaped in the HTML and no template leftovers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from collector.notify.messages import HTML, TEMPLATES, MessageKind, render_message
from collector.store.contacts import Language

CONTEXT: dict[str, Any] = {
    "ticket_id": 42,
    "device": "Aqara curtain E1",
    "priority": "P2",
    "expected": "2026-11-25 10:00 CST",
    "milestone": "root cause found",
    "text": "Please move the router's reboot to 05:00 <script>alert(1)</script>",
    "root_cause": "the router reboots every night at 03:00",
    "solution": "reboot moved to 05:00",
    "advice": "keep the hub on the 2.4 GHz band",
    "link": "https://support.example/portal/tickets/42",
    "rate_link": "https://support.example/portal/tickets/42/rate",
}
# What each message must carry, in both bodies.
MUST_SAY = {
    MessageKind.RECEIVED: ("P2", "2026-11-25 10:00 CST", "Aqara curtain E1"),
    MessageKind.MILESTONE: ("Please move the router",),
    MessageKind.REPLY: ("Please move the router",),
    MessageKind.UPDATE: ("Please move the router", "2026-11-25 10:00 CST"),
    MessageKind.RESOLVED: ("the router reboots every night at 03:00", "reboot moved to 05:00", "2.4 GHz"),
    MessageKind.SURVEY: ("https://support.example/portal/tickets/42/rate",),
    MessageKind.COMPLAINT_ACK: ("24",),
    MessageKind.STILL_WORKING: ("2026-11-25 10:00 CST", "P2"),
}
NEXT_STEP = {Language.EN: ("Next step", "Expected by"), Language.ZH: ("下一步", "预计时间")}
REPORT = {
    Language.EN: ("Root cause", "Solution", "Maintenance advice"),
    Language.ZH: ("根本原因", "解决方案", "维护建议"),
}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def test_every_kind_has_a_template_in_every_language() -> None:
    for language in Language:
        assert set(TEMPLATES[language]) == set(MessageKind) == set(HTML[language])


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("kind", list(MessageKind))
def test_each_message_says_the_same_in_text_and_html(kind: MessageKind, language: Language) -> None:
    subject, text, html = render_message(kind, language, CONTEXT)
    shown = _visible(html)
    for needed in MUST_SAY[kind]:
        assert needed in text and needed in shown, (kind, language, needed)
    assert CONTEXT["link"] in text and f'href="{CONTEXT["link"]}"' in html
    assert f'<html lang="{language.value}">' in html and subject in shown
    assert "<script>" not in html  # the customer-visible text is escaped, never markup
    for leftover in ("{{", "{%", "}}", "None"):
        assert leftover not in subject + text + html, (kind, language, leftover)
    if language is Language.ZH:  # no English sentence left in a Chinese message (names and times aside)
        stripped = shown
        for value in CONTEXT.values():
            stripped = stripped.replace(str(value), "")
        assert not re.search(r"[A-Za-z]{4,} [a-z]{3,}", stripped.replace("homediag", "")), (kind, stripped)
    if kind is MessageKind.RECEIVED:
        assert all(word in shown for word in NEXT_STEP[language])
    if kind is MessageKind.RESOLVED:
        assert all(word in shown and word in text for word in REPORT[language])
