"""Signing in to the web pages from a test: one cookie per person, the CSRF token read from a page."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from collector.models import Role
from collector.web.passwords import hash_password

from .conftest import Collector

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    """A person's session: requests carry their cookie only (the test client's own jar is kept empty)."""

    def __init__(self, collector: Collector, cookie: str) -> None:
        self.collector, self.cookie = collector, cookie
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str, str]:
        """(status, content type, text) of a page as a browser asks for it (following redirects)."""
        answer = await self.collector.client.get(path, headers={"Cookie": self.cookie, "Accept": "text/html"}, **kwargs)
        text = await answer.text()
        self.collector.client.session.cookie_jar.clear()
        found = _CSRF.search(text)
        if found:
            self.csrf = found.group(1)
        return answer.status, answer.content_type, text

    async def post(self, path: str, form: dict[str, str], image: bytes | None = None) -> tuple[int, str]:
        """A form post (multipart with an ``image``); returns (status, where it redirected to or the page's text)."""
        data: Any = {"csrf": self.csrf, **form}
        if image is not None:
            data = aiohttp.FormData()
            for name, value in {"csrf": self.csrf, **form}.items():
                data.add_field(name, value)
            data.add_field("image", image, filename="screenshot.png", content_type="image/png")
        answer = await self.collector.client.post(
            path, data=data, allow_redirects=False, headers={"Cookie": self.cookie, "Accept": "text/html"}
        )
        self.collector.client.session.cookie_jar.clear()
        return answer.status, answer.headers.get("Location") or await answer.text()


async def sign_in(collector: Collector, name: str, role: Role, household: str | None = None) -> Browser:
    collector.user(name, role, household)
    store = collector.store()
    try:
        store.set_password(name, hash_password("pass-" + name), collector.clock())
    finally:
        store.close()
    answer = await collector.client.post(
        "/ui/login", data={"name": name, "password": "pass-" + name, "next": "/ui/"}, allow_redirects=False
    )
    assert answer.status == 303, await answer.text()
    cookie = f"homediag_session={answer.cookies['homediag_session'].value}"
    collector.client.session.cookie_jar.clear()
    browser = Browser(collector, cookie)
    await browser.get("/portal/" if role is Role.CUSTOMER else "/ui/")
    return browser
