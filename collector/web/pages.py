"""Errors on people's pages are pages: a refusal or a bad value reads as HTML with a way back, never raw JSON.

Only for requests a browser makes for a page (``Accept: text/html`` under /ui/ or /portal/); the API and the
pages' own fetch calls keep the JSON errors of ``collector.app``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ..auth import PRINCIPAL
from ..errors import CollectorError
from ..state import DB
from ..store.contacts import Language, contact_of
from . import render, staff_language
from .desk_text import message as in_language

_TITLES = {
    400: "That request was not understood",
    401: "Please sign in",
    403: "Not available to you",
    404: "Not found",
    405: "Not allowed here",
    409: "Someone changed this meanwhile",
    413: "Too large",
    429: "Too many attempts",
}


def _wants_page(request: web.Request) -> bool:
    return request.path.startswith(("/ui/", "/portal/")) and "text/html" in request.headers.get("Accept", "")


@web.middleware
async def html_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except CollectorError as exc:
        if exc.status >= 500 or not _wants_page(request):
            raise
        status, message = exc.status, exc.message
    except web.HTTPException as exc:
        if exc.status < 400 or not _wants_page(request):
            raise
        status, message = exc.status, exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
    language = await _reader_language(request)
    return render(
        "error.html",
        request,
        status=status,
        language=language,
        title=_TITLES.get(status, "Something went wrong"),
        message=in_language(language, message),
        home="/portal/" if request.path.startswith("/portal/") else "/ui/",
    )


async def _reader_language(request: web.Request) -> Language:
    """A customer reads the household's language (as on the portal's pages); staff their own."""
    who = request.get(PRINCIPAL)
    if who is None or not who.household or not request.path.startswith("/portal/"):
        return staff_language(request)
    found = await request.app[DB].run(contact_of, who.household)
    return found.language if found else staff_language(request)
