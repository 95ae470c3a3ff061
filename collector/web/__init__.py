"""The engineer web UI: server-rendered with jinja2, a little JavaScript for zooming the chart.

Sign-in for people with a password (scrypt) and a session cookie (HttpOnly, SameSite=Strict); every form
carries the session's CSRF token. Pages: the queue (nearest SLA deadline first, countdowns, warning and
breach marks, filters), a ticket (intake, diagnosis in four parts, history, bundles with their verification
and a viewer, the timeline chart), the fleet view (faults by signature across households, by device model
and firmware) and the monthly report with charts.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from shared.bundle import open_bundle
from shared.errors import BundleError
from shared.models import Priority
from shared.profiles import load_profiles
from shared.signing import public_key_from_text

from .. import fleet
from ..api.live import audit_live_request, presence_of, relay
from ..api.support import ClassifyRequest, assignee_of, clock_json, month_report, queue_entries
from ..api.tickets import visible_ticket
from ..auth import PRINCIPAL
from ..contents import ContentInvalid, parse_contents
from ..errors import CollectorError, NotFound
from ..forwarded import client_address, is_https
from ..models import BundleRecord, Principal, Role, Ticket, TicketState
from ..ratelimit import whole_seconds
from ..state import BLOBS, CLOCK, CONFIG, DB, LIVE
from ..store import Store
from ..store.connectors import links_of_ticket
from ..store.contacts import Language
from ..store.staff import staff_names
from ..support.clocks import current_state
from ..support.events import EventKind
from ..support.lifecycle import MILESTONES, SOLUTION_KINDS, TRANSITIONS, route
from .chart import timeline_svg
from .desk_text import message, phrases, words
from .guard import LOGIN_THROTTLE
from .passwords import hash_password, verify_password

COOKIE = "homediag_session"
LANGUAGE_COOKIE = "homediag_language"
SESSION_HOURS = 12
CSRF = web.RequestKey("csrf", str)
routes = web.RouteTableDef()
routes.static("/ui/static", Path(__file__).with_name("static"))
_env = jinja2.Environment(
    loader=jinja2.FunctionLoader(
        lambda name: resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
    ),
    autoescape=True,
)


def load_templates() -> None:
    """Compile every page template now (they stay cached): read at startup in a worker thread, not from disk
    on the event loop by the first request for each page."""
    for template in resources.files(__package__).joinpath("templates").iterdir():
        if template.name.endswith(".html"):
            _env.get_template(template.name)


def staff_language(request: web.Request) -> Language:
    """The desk's language: the reader's choice (a cookie), else the browser's first preference, else English."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen in set(Language):
        return Language(chosen)
    first = request.headers.get("Accept-Language", "").split(",")[0].strip().lower()
    return Language.ZH if first.startswith("zh") else Language.EN


def render(
    name: str,
    request: web.Request,
    *,
    status: int = 200,
    tz: str | None = None,
    language: Language | None = None,
    **context: Any,
) -> web.Response:
    """A page in ``language`` (default: the desk's, ``staff_language``); times on it read in ``tz`` (default: the
    support organisation's time zone)."""
    language = language or staff_language(request)
    html = _env.get_template(name).render(
        who=request.get(PRINCIPAL),
        csrf=request.get(CSRF),
        tz=tz or request.app[CONFIG].support.timezone,
        lang=language.value,
        here=request.path_qs,
        _=phrases(language),
        word=words(language),
        **context,
    )
    return web.Response(text=html, content_type="text/html", status=status)


@routes.get("/ui/language/{language}")
async def choose_language(request: web.Request) -> web.StreamResponse:
    """Switch the desk's language and go back where the reader was (only to our own pages)."""
    chosen = request.match_info["language"]
    if chosen not in set(Language):
        raise web.HTTPNotFound(text="no such language")
    target = request.query.get("next", "/ui/")
    response = web.HTTPSeeOther(target if target.startswith(("/ui/", "/portal/")) else "/ui/")
    response.set_cookie(
        LANGUAGE_COOKIE,
        chosen,
        max_age=365 * 24 * 3600,
        path="/",
        samesite="Lax",
        secure=is_https(request, request.app[CONFIG].web),
    )
    raise response


async def session_principal(request: web.Request) -> Principal:
    """Whoever the session cookie names (any role); to the sign-in page without one."""
    token = request.cookies.get(COOKIE)
    found = None if not token else await request.app[DB].run(Store.session, token, request.app[CLOCK]())
    if found is None:
        raise web.HTTPSeeOther(f"/ui/login?next={request.path_qs}")
    who, csrf = found
    request[PRINCIPAL], request[CSRF] = who, csrf
    return who


async def signed_in(request: web.Request) -> Principal:
    """Support staff (engineers, admins, partners) on the desk's pages."""
    who = await session_principal(request)
    if who.role is Role.CUSTOMER:
        raise web.HTTPSeeOther("/portal/")  # customers have their own pages
    return who


@cache
def _unknown_user_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _password_matches(password: str, found: tuple[int, str] | None) -> bool:
    """Blocking. An unknown name costs the same scrypt as a known one, so timing does not tell which names exist."""
    return verify_password(password, found[1] if found else _unknown_user_hash()) and found is not None


@routes.get("/ui/login")
async def login_form(request: web.Request) -> web.Response:
    return render("login.html", request, next=request.query.get("next", "/ui/"), error=None)


@routes.post("/ui/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    target = str(form.get("next", "/ui/"))
    web_config, throttle = request.app[CONFIG].web, request.app[LOGIN_THROTTLE]
    address = client_address(request, web_config)
    wait = await throttle.retry_after(name, address)
    if wait > 0:  # refused before the password is hashed: guessing costs the guesser, not the server
        seconds = whole_seconds(wait)
        response = render(
            "login.html",
            request,
            next=target,
            error=phrases(staff_language(request))("Too many failed sign-ins. Try again in %(seconds)s seconds.")
            % {"seconds": seconds},
        )
        response.set_status(429)
        response.headers["Retry-After"] = str(seconds)
        return response
    found = await request.app[DB].run(Store.password_of, name)
    ok = await asyncio.to_thread(_password_matches, password, found)
    now = request.app[CLOCK]()
    await request.app[DB].run(
        Store.audit, name or "-", "ui.login" if ok else "ui.login_failed", name, {"address": address}, now
    )
    if not ok or found is None:
        await throttle.failed(name, address)
        return render(
            "login.html", request, next=target, error=message(staff_language(request), "Wrong name or password")
        )
    token = secrets.token_urlsafe(32)
    await request.app[DB].run(
        Store.create_session,
        found[0],
        token,
        secrets.token_urlsafe(16),
        now + timedelta(hours=SESSION_HOURS),
        now,
    )
    response = web.HTTPSeeOther(target if target.startswith(("/ui/", "/portal/")) else "/ui/")
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        max_age=SESSION_HOURS * 3600,
        path="/",
        secure=is_https(request, web_config),
    )
    raise response


async def checked_form(request: web.Request) -> dict[str, str]:
    """A POSTed form from a signed-in page: the CSRF token must match the session's."""
    try:
        form = await request.post()
    except (ValueError, HttpProcessingError) as exc:  # a malformed body: the sender's mistake, not ours
        raise web.HTTPBadRequest(text=f"the form could not be read: {exc}") from exc
    if not secrets.compare_digest(str(form.get("csrf", "")), request[CSRF]):
        raise web.HTTPForbidden(text="CSRF token missing or wrong")
    return {key: str(value) for key, value in form.items()}


@routes.post("/ui/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await signed_in(request)
    await checked_form(request)
    await request.app[DB].run(Store.end_session, request.cookies[COOKIE])
    response = web.HTTPSeeOther("/ui/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def _assignable(request: web.Request, who: Principal) -> list[str]:
    """The people a ticket can be given to, for those who assign (engineers, admins); nobody else is shown them."""
    return await request.app[DB].run(staff_names) if who.role in (Role.ENGINEER, Role.ADMIN) else []


def known_groups(request: web.Request, chosen: str | None) -> list[str]:
    """The queue's group choices: where tickets are routed, groups with their own calendar, the one asked for."""
    named = {route(Priority.P1), route(Priority.P3), *request.app[CONFIG].support.group_calendars}
    return sorted(named | ({chosen} if chosen else set()))


def ticket_context(request: web.Request, ticket: Ticket) -> dict[str, Any]:
    """What the ticket page's work panel offers: the moves the lifecycle allows from here, and so on."""
    state = TicketState(current_state(ticket.events))
    closed = {
        e.data.get("complaint_id")
        for e in ticket.events
        if e.kind == EventKind.COMPLAINT_MILESTONE and e.data.get("name") == "close"
    }
    return {
        "next_states": sorted(TRANSITIONS[state]),
        "milestones": sorted(MILESTONES),
        "solutions": sorted(SOLUTION_KINDS),
        "assignee": assignee_of(ticket),
        "groups": known_groups(request, ticket.group),
        "fault_types": get_args(ClassifyRequest.model_fields["type"].annotation),
        "classified": next((e.data for e in reversed(ticket.events) if e.kind == EventKind.CLASSIFIED), {}),
        "open_complaints": [e for e in ticket.events if e.kind == EventKind.COMPLAINT and e.id not in closed],
    }


@routes.get("/ui/")
async def queue_page(request: web.Request) -> web.Response:
    who = await signed_in(request)
    q = request.query
    for name, allowed in (("priority", Priority), ("state", TicketState)):
        if q.get(name) and q[name] not in set(allowed):
            language = staff_language(request)
            word = words(language)
            refusal = phrases(language)("%(field)s must be one of: %(values)s") % {
                "field": word(name),
                "values": ", ".join(word(value) for value in allowed),
            }
            raise web.HTTPBadRequest(text=str(refusal))
    entries = await queue_entries(
        request,
        who,
        q.get("priority") or None,
        q.get("group") or None,
        q.get("state") or None,
        assignee=who.name if q.get("mine") else None,
    )
    return render(
        "queue.html",
        request,
        entries=entries,
        filters=q,
        now=request.app[CLOCK](),
        states=list(TicketState),
        bulk=who.role in (Role.ENGINEER, Role.ADMIN),
        groups=known_groups(request, q.get("group")),
        staff=await _assignable(request, who),
    )


def _unreadable(error: str) -> dict[str, Any]:
    return {
        "verified": False,
        "files": {},
        "timeline": [],
        "inventory": None,
        "diagnosis": None,
        "raw": {},
        "error": error,
    }


def _read_bundle(blob: bytes, public_key: str | None) -> dict[str, Any]:
    """What the viewer and the chart need from one bundle (blocking). With the agent's key it is verified again
    on the way; without, it is read as stored (it was verified on arrival). A bundle that cannot be read or
    whose files do not parse (stored before ingest checked them) comes back with an ``error`` for the page."""
    try:
        opened = open_bundle(blob)
        files = opened.verify(public_key_from_text(public_key)).files if public_key else opened.members
    except BundleError as exc:
        return _unreadable(f"the bundle cannot be read: {exc}")
    shown = {
        "verified": public_key is not None,
        "files": {name: len(data) for name, data in files.items()},
        "raw": files,
    }
    try:
        contents = parse_contents(files)
    except ContentInvalid as exc:
        return _unreadable(f"this bundle's {exc}") | shown
    return shown | {
        "error": None,
        "timeline": contents.timeline,
        "inventory": contents.inventory,
        "diagnosis": contents.diagnosis,
    }


async def _bundle_bytes(request: web.Request, record: BundleRecord) -> bytes | None:
    try:
        return await asyncio.to_thread(request.app[BLOBS].get, record.sha256)
    except NotFound:
        return None  # the record outlived its bytes: the page says so instead of failing


async def _bundle_view(request: web.Request, record: BundleRecord, who: Principal) -> dict[str, Any]:
    agent = await request.app[DB].run(Store.get_agent, record.agent_id)
    blob = await _bundle_bytes(request, record)
    if blob is None:
        return _unreadable("the bundle's bytes are missing from the blob store")
    view = await asyncio.to_thread(_read_bundle, blob, agent.public_key if agent else None)
    await request.app[DB].run(
        Store.audit,
        who.name,
        "bundle.read",
        record.bundle_id,
        {"role": who.role.value, "via": "ui"},
        request.app[CLOCK](),
    )
    return view


@routes.get("/ui/tickets/{ticket_id}")
async def ticket_page(request: web.Request) -> web.Response:
    who = await signed_in(request)
    ticket = await visible_ticket(request, who)
    bundles: list[dict[str, Any]] = []
    for record in ticket.bundles:
        view = await _bundle_view(request, record, who)
        names = {d.id: d.name or d.id for d in view["inventory"].devices} if view["inventory"] else {}
        chart = (
            timeline_svg(
                view["timeline"],
                record.window.start,
                record.window.end,
                names,
                request.app[CONFIG].support.timezone,
                words(staff_language(request)),
            )
            if view["verified"]
            else ""
        )
        bundles.append({"record": record, "view": view, "chart": chart})
    diagnosis = next((b["view"]["diagnosis"] for b in reversed(bundles) if b["view"]["diagnosis"]), None)
    agents = await request.app[DB].run(Store.list_agents, ticket.household)
    presence = {a.agent_id: presence_of(request.app.get(LIVE), a.agent_id) for a in agents if a.revoked_at is None}
    return render(
        "ticket.html",
        request,
        ticket=ticket,
        bundles=bundles,
        diagnosis=diagnosis,
        clocks=clock_json(ticket, request),
        now=request.app[CLOCK](),
        presence=presence,
        live_on=request.app.get(LIVE) is not None,
        work=ticket_context(request, ticket),
        staff=await _assignable(request, who),
        helpdesk_links=await request.app[DB].run(links_of_ticket, ticket.id),
    )


@routes.get("/ui/bundles/{bundle_id}/files/{path:.+}")
async def bundle_file(request: web.Request) -> web.Response:
    who = await signed_in(request)
    record = await request.app[DB].run(Store.get_bundle, request.match_info["bundle_id"])
    if record is None or record.ticket_id is None:
        raise NotFound("no such bundle", code="bundle_not_found")
    await visible_ticket(request, who, record.ticket_id)
    view = await _bundle_view(request, record, who)
    data = view.get("raw", {}).get(request.match_info["path"])
    if data is None:
        raise NotFound("no such file in the bundle", code="not_found")
    return web.Response(text=data.decode("utf-8", errors="replace"), content_type="text/plain")


@routes.post("/ui/tickets/{ticket_id}/live/{method}")
async def live_panel(request: web.Request) -> web.Response:
    """The ticket page's live panel: ask the household's hub now (engineers and admins; audited like the API)."""
    who = await signed_in(request)
    method = request.match_info["method"]
    try:
        if not secrets.compare_digest(request.headers.get("X-CSRF-Token", ""), request[CSRF]):
            raise web.HTTPForbidden(text="CSRF token missing or wrong")
        if who.role not in (Role.ENGINEER, Role.ADMIN):
            raise web.HTTPForbidden(text="live state is for engineers and admins")
        ticket = await visible_ticket(request, who)
        if method not in ("inventory", "device.state", "bundle.capture", "probe.run"):
            raise web.HTTPBadRequest(text="not a live panel method")
        agents = [a for a in await request.app[DB].run(Store.list_agents, ticket.household) if a.revoked_at is None]
        live = request.app.get(LIVE)
        online = [a for a in agents if presence_of(live, a.agent_id).online]
        if not online:
            raise NotFound("no hub of this household is online", code="agent_offline")
        params = await request.json() if request.can_read_body else {}
    except (web.HTTPException, CollectorError, ValueError) as refused:
        outcome, reason = (
            (f"http_{refused.status}", refused.text)
            if isinstance(refused, web.HTTPException)
            else (getattr(refused, "code", "body_invalid"), str(refused))
        )
        await audit_live_request(
            request,
            who,
            method,
            f"ticket:{request.match_info['ticket_id'][:64]}",
            {"outcome": outcome, "reason": reason},
        )
        raise
    answer = await relay(request, who, online[0], method, params if isinstance(params, dict) else {})
    return web.json_response(answer.model_dump(mode="json"))


@routes.get("/ui/fleet")
async def fleet_page(request: web.Request) -> web.Response:
    who = await signed_in(request)
    if who.role is Role.PARTNER:
        raise web.HTTPForbidden(text="the fleet view is for the support organisation")
    summary = await fleet.overview(request.app[DB], request.app[CLOCK]())
    profiles = await asyncio.to_thread(load_profiles)
    issues = [(row, profiles.known_issue(row.known_issue)) for row in summary.known_issues]
    return render("fleet.html", request, summary=summary, issues=issues)


@routes.get("/ui/reports")
async def report_page(request: web.Request) -> web.Response:
    who = await signed_in(request)
    if who.role not in (Role.ENGINEER, Role.ADMIN):
        raise web.HTTPForbidden(text="reports are for engineers and admins")
    try:
        report = await month_report(request, request.query.get("month"))
    except CollectorError as exc:
        raise web.HTTPBadRequest(text=exc.message) from exc
    return render("report.html", request, report=report, month=report["month"])


def local_time(value: datetime | str | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as a person there reads it, with the zone's abbreviation (CST, CET, UTC…)."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local.strftime(fmt)} {local.tzname()}"


def countdown(seconds: float | None) -> str:
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    seconds = abs(int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{sign}{hours}h{rest // 60:02d}m"


_env.filters["countdown"] = countdown
_env.filters["iso"] = lambda value: value.isoformat() if isinstance(value, datetime) else value
_env.filters["local"] = local_time
