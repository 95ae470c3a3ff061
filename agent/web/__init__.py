"""The local one-click page: one button, live progress, the answer in plain language, sending it to support,
and remote access for support.

``OneClickPage`` is an async context manager serving an aiohttp app on ``web.host:web.port`` (loopback by
default). A click starts one self-check (``agent.selfcheck``) in a task the page owns; the browser polls its
progress and gets the answer as cards (``agent.web.cards``) in the customer's language. Sending says
"sending…" at once, waits ``web.send_wait_s`` for the collector, and otherwise says the evidence is saved and
follows the delivery until the collector answers with the ticket number. Remote access needs a confirmation
before it is allowed, and is time-limited by default. Beyond loopback, visitors pair first (``pairing``).
POSTs must carry the page's own header, which a foreign web page cannot send without the browser asking us
first (and we never say yes).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web
from pydantic import ValidationError

from shared.aio import cancel_and_wait
from shared.atomic_file import write_atomically
from shared.models import DiagnosisReport, Inventory, utcnow

from ..collector_client import CollectorClient, UploadOutcome, UploadResult, collector_url
from ..config import AgentConfig
from ..errors import AgentError
from ..identity import Identity
from ..live import Consent, ConsentStore
from .cards import Answer, Words, answer
from .pairing import COOKIE, SESSION_DAYS, PairingStore
from .texts import TEXTS, browser_texts, pick_language

if TYPE_CHECKING:
    import jinja2

_LOGGER = logging.getLogger(__name__)
MAX_JOBS = 20
MAX_NOTE = 2000
FOLLOW_EVERY_S = 3.0  # while a sent result waits for the internet: how often the page asks the collector again
GRANT_MINUTES = 60.0
PAGE_HEADER = "X-Homediag-Page"

SelfCheck = Callable[[AgentConfig, Callable[[str], None]], Awaitable[tuple[DiagnosisReport, dict[str, bytes]]]]


async def _self_check(config: AgentConfig, progress: Callable[[str], None]) -> tuple[DiagnosisReport, dict[str, bytes]]:
    """``agent.selfcheck.self_check``, imported at the first click: the checks, the diagnosis and the firmware
    profiles are not carried by a hub whose page nobody opens."""
    from ..selfcheck import self_check

    return await self_check(config, progress)


class Sending(StrEnum):
    SENDING = "sending"
    SENT = "sent"  # a new ticket
    JOINED = "joined"  # added to a ticket this hub's page had already shown
    QUEUED = "queued"  # saved on the hub; followed until the collector has it
    REFUSED = "refused"
    FAILED = "failed"
    NOT_ENROLLED = "not_enrolled"


_SENDING_TEXT = {
    Sending.SENDING: "sending",
    Sending.SENT: "sent",
    Sending.JOINED: "joined",
    Sending.QUEUED: "queued",
    Sending.REFUSED: "send_refused",
    Sending.FAILED: "send_failed",
    Sending.NOT_ENROLLED: "not_enrolled",
}
_SENDING_TONE = {
    Sending.SENDING: "info",
    Sending.SENT: "ok",
    Sending.JOINED: "ok",
    Sending.QUEUED: "healed",
    Sending.REFUSED: "now",
    Sending.FAILED: "now",
    Sending.NOT_ENROLLED: "now",
}


@dataclass
class Delivery:
    state: Sending = Sending.SENDING
    ticket: str | None = None
    provisional: bool = False
    bundle_id: str | None = None


@dataclass
class Job:
    id: str
    step: str = "starting"
    report: DiagnosisReport | None = None
    inventory: Inventory | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    failed: bool = False
    delivery: Delivery | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class OneClickPage:
    def __init__(
        self,
        config: AgentConfig,
        *,
        check: SelfCheck | None = None,
        now: Callable[[], datetime] = utcnow,
        tz: tzinfo | None = None,
        follow_every_s: float = FOLLOW_EVERY_S,
        sockets: Sequence[socket.socket] = (),
    ) -> None:
        self.config = config
        self._sockets = sockets  # already listening (``agent.page_on_visit``); none: bind web.host:web.port
        self.jobs: dict[str, Job] = {}
        self._check, self._now, self._follow_every_s = check or _self_check, now, follow_every_s
        self._tz = tz or _local_timezone()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.consent = ConsentStore(config.state_dir, config.live.consent)
        self.pairing = PairingStore(config.state_dir)
        self._tickets_path = config.state_dir / "web-tickets.json"

    @staticmethod
    def _template(name: str) -> str:
        return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")

    @cached_property
    def _templates(self) -> dict[str, jinja2.Template]:
        """Compiled at the first page shown: jinja2 (about 2 MB resident) is not carried by a hub nobody visits."""
        import jinja2

        env = jinja2.Environment(loader=jinja2.FunctionLoader(self._template), autoescape=True)
        return {name: env.get_template(name) for name in ("page.html", "pair.html")}

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/pair", self._pair)
        app.router.add_post("/pair", self._pair)
        app.router.add_post("/api/check", self._start)
        app.router.add_get("/api/check/{job}", self._status)
        app.router.add_post("/api/check/{job}/send", self._send)
        app.router.add_post("/api/consent", self._set_consent)
        return app

    async def __aenter__(self) -> Self:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        sites: list[web.BaseSite] = [web.SockSite(self._runner, sock) for sock in self._sockets] or [
            web.TCPSite(self._runner, self.config.web.host, self.config.web.port)
        ]
        for site in sites:
            await site.start()
        self.port = self._runner.addresses[0][1] if self._runner.addresses else self.config.web.port
        return self

    async def __aexit__(self, *exc: object) -> None:
        for job in list(self.jobs.values()):
            await self._stop(job)
        if self._runner is not None:
            await self._runner.cleanup()

    # -- who may use the page -----------------------------------------------------------------------------------
    def _needs_pairing(self, request: web.Request) -> bool:
        if self.config.web.pairing == "always":
            return True
        return not _is_loopback(self.config.web.host) and not _is_loopback(request.remote or "")

    @web.middleware
    async def _guard(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if request.path != "/pair":
            if request.method == "POST" and request.headers.get(PAGE_HEADER) != "1":
                raise web.HTTPForbidden(text="requests must come from the page itself")
            if self._needs_pairing(request) and not await asyncio.to_thread(
                self.pairing.valid, request.cookies.get(COOKIE), self._now()
            ):
                if request.method == "GET" and request.path == "/":
                    return self._pairing_form(request, wrong=False)
                raise web.HTTPForbidden(text="pair this device first: homediag-agent web pair")
        return await handler(request)

    def _pairing_form(self, request: web.Request, *, wrong: bool) -> web.Response:
        language = self._language(request)
        html = self._templates["pair.html"].render(t=TEXTS[language], language=language, wrong=wrong)
        return web.Response(text=html, content_type="text/html", status=403 if wrong else 200)

    async def _pair(self, request: web.Request) -> web.StreamResponse:
        code = request.query.get("code", "") if request.method == "GET" else str((await request.post()).get("code", ""))
        if not code:
            return self._pairing_form(request, wrong=False)
        token = await asyncio.to_thread(self.pairing.pair, code[:32], self._now())
        if token is None:
            return self._pairing_form(request, wrong=True)
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(COOKIE, token, max_age=SESSION_DAYS * 86400, httponly=True, samesite="Strict")
        return response

    # -- the check ------------------------------------------------------------------------------------------------
    def _language(self, request: web.Request) -> str:
        return pick_language(self.config.web.language, request.headers.get("Accept-Language", ""))

    async def _index(self, request: web.Request) -> web.Response:
        language = self._language(request)
        consent = self.consent.current()
        choice = "grant" if consent.mode == "ask" and consent.allows(self._now()) else consent.mode
        html = self._templates["page.html"].render(
            t=TEXTS[language],
            browser=browser_texts(language),
            language=language,
            choice=choice,
            consent_text=self._consent_text(consent, language),
        )
        return web.Response(text=html, content_type="text/html")

    async def _start(self, request: web.Request) -> web.Response:
        while len(self.jobs) >= MAX_JOBS:
            await self._stop(self.jobs.pop(next(iter(self.jobs))))
        job = Job(uuid.uuid4().hex)
        self.jobs[job.id] = job
        self._own(job, self._run(job), f"self-check-{job.id}")
        return web.json_response({"job": job.id}, status=202)

    def _own(self, job: Job, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        job.tasks.add(task)
        task.add_done_callback(job.tasks.discard)

    @staticmethod
    async def _stop(job: Job) -> None:
        for task in list(job.tasks):
            await cancel_and_wait(task)

    async def _run(self, job: Job) -> None:
        def progress(step: str) -> None:
            job.step = step

        try:
            job.report, job.files = await self._check(self.config, progress)
            raw = job.files.get("inventory.json")
            job.inventory = Inventory.model_validate_json(raw) if raw else None
            job.step = "done"
        except (AgentError, OSError, ValidationError) as exc:
            _LOGGER.warning("the one-click check failed: %s", exc)
            job.failed, job.step = True, "failed"

    def _job(self, request: web.Request) -> Job:
        job = self.jobs.get(request.match_info["job"])
        if job is None:
            raise web.HTTPNotFound(text="no such check")
        return job

    def _answer(self, job: Job, language: str) -> Answer | None:
        if job.report is None:
            return None
        return answer(job.report, job.inventory, language, self._now(), self._tz)

    async def _status(self, request: web.Request) -> web.Response:
        job, language = self._job(request), self._language(request)
        texts = TEXTS[language]
        body: dict[str, Any] = {
            "step": job.step,
            "step_text": texts["steps"].get(job.step, ""),
            "error": texts["check_failed"] if job.failed else None,
        }
        shown = self._answer(job, language)
        if shown is not None:
            body["result"] = shown.as_json()
        if job.delivery is not None:
            body["delivery"] = self._delivery_json(job.delivery, language)
        return web.json_response(body)

    # -- sending to support ---------------------------------------------------------------------------------------
    def _delivery_json(self, delivery: Delivery, language: str, *, repeat: bool = False) -> dict[str, Any]:
        texts = TEXTS[language]
        key = _SENDING_TEXT[delivery.state]
        if delivery.state is Sending.QUEUED and delivery.provisional:
            key = "queued_provisional"
        if repeat and delivery.ticket is not None:
            key = "already"
        return {
            "state": delivery.state.value,
            "ticket": delivery.ticket,
            "tone": _SENDING_TONE[delivery.state],
            "text": texts[key].format(ticket=delivery.ticket),
            "repeat": repeat,
        }

    async def _send(self, request: web.Request) -> web.Response:
        job, language = self._job(request), self._language(request)
        shown = self._answer(job, "en")
        if job.report is None or shown is None:
            raise web.HTTPConflict(text="the check has not finished")
        if job.delivery is not None:  # sent before: say so, never pass the old ticket off as a new one
            return web.json_response(self._delivery_json(job.delivery, language, repeat=True))
        note = str((await request.post()).get("note", ""))
        if len(note) > MAX_NOTE:
            return web.json_response({"error": f"the note is longer than {MAX_NOTE} characters"}, status=400)
        job.delivery = Delivery(provisional=bool(shown.failing_now))
        self._own(job, self._deliver(job, job.delivery, note, shown.failing_now), f"send-{job.id}")
        return web.json_response(self._delivery_json(job.delivery, language), status=202)

    async def _deliver(self, job: Job, delivery: Delivery, note: str, failing_now: list[str]) -> None:
        # Bundling, redaction and the upload queue load at the first result sent, not with the page.
        from ..commands.bundle import deliver
        from ..selfcheck import support_bundle

        assert job.report is not None
        try:
            identity = await asyncio.to_thread(Identity.load_or_create, self.config.state_dir)
            if identity.enrollment is None:
                delivery.state = Sending.NOT_ENROLLED
                return
            manifest, data = await asyncio.to_thread(
                support_bundle, self.config, identity, job.report, job.files, note=note, failing_now=failing_now
            )
            delivery.bundle_id = str(manifest.bundle_id)
            sent = await deliver(self.config, identity, self.config.web.send_wait_s, new=(manifest, data))
            if delivery.bundle_id in sent.dropped:
                delivery.state = Sending.FAILED
            elif (result := sent.results.get(delivery.bundle_id)) is not None:
                await self._settle(delivery, result)
            else:
                delivery.state = Sending.QUEUED
                await self._follow(delivery, data, collector_url(self.config, identity.require_enrollment()))
        except (AgentError, OSError) as exc:
            _LOGGER.warning("sending the one-click result failed: %s", exc)
            delivery.state = Sending.FAILED

    async def _follow(self, delivery: Delivery, data: bytes, url: str) -> None:
        """Until the collector has the bundle: offer it again (an upload of the same bytes is idempotent, and
        says which ticket it joined even when the hub's outbox got there first)."""
        async with CollectorClient.from_config(self.config, url) as client:
            while delivery.state is Sending.QUEUED:
                await asyncio.sleep(self._follow_every_s)
                try:
                    result = await client.upload(data)
                except AgentError:
                    continue
                if result.outcome is UploadOutcome.RETRY_AFTER:
                    await asyncio.sleep(result.retry_after_s or self._follow_every_s)
                else:
                    await self._settle(delivery, result)

    async def _settle(self, delivery: Delivery, result: UploadResult) -> None:
        if result.outcome is UploadOutcome.REJECTED:
            delivery.state = Sending.REFUSED
            return
        known = await asyncio.to_thread(self._known_tickets)
        delivery.ticket = result.ticket_id
        delivery.state = Sending.JOINED if result.ticket_id in known else Sending.SENT
        if result.ticket_id is not None and result.ticket_id not in known:
            await asyncio.to_thread(self._remember_ticket, [*known, result.ticket_id])

    def _known_tickets(self) -> list[str]:
        try:
            tickets = json.loads(self._tickets_path.read_text())
        except (OSError, ValueError):
            return []
        return [str(t) for t in tickets] if isinstance(tickets, list) else []

    def _remember_ticket(self, tickets: list[str]) -> None:
        self._tickets_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self._tickets_path, json.dumps(tickets[-100:]).encode())

    # -- remote access --------------------------------------------------------------------------------------------
    def _consent_text(self, consent: Consent, language: str) -> str:
        words = Words(language, self._now(), self._tz)
        if consent.mode == "allowed":
            return words.say("consent_allowed")
        if consent.mode == "ask" and consent.granted_until is not None and consent.allows(self._now()):
            return words.say("consent_until", until=words.moment(consent.granted_until))
        return words.say("consent_ask" if consent.mode == "ask" else "consent_off")

    async def _set_consent(self, request: web.Request) -> web.Response:
        data = await request.post()
        choice = data.get("mode")
        if choice not in ("off", "ask", "grant", "allowed"):
            return web.json_response({"error": "mode must be off, ask, grant or allowed"}, status=400)
        if choice in ("grant", "allowed") and data.get("confirm") != "yes":
            return web.json_response({"error": "allowing remote access needs the customer's confirmation"}, status=400)
        if choice == "grant":
            consent = await asyncio.to_thread(self.consent.grant, GRANT_MINUTES, self._now())
        else:
            consent = Consent(choice)  # type: ignore[arg-type]
            await asyncio.to_thread(self.consent.set, consent)
        return web.json_response({"mode": choice, "text": self._consent_text(consent, self._language(request))})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback


def _local_timezone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None  # astimezone() always attaches the local zone
    return zone
