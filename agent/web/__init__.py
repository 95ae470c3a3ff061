"""The local one-click page: one button, live progress, the answer in plain language, the consent to send.

``OneClickPage`` is an async context manager serving an aiohttp app on ``web.host:web.port`` (localhost by
default). A click starts one self-check (``agent.selfcheck``) in a task the page owns; the browser polls its
progress; the customer may then send the evidence (a ticket is opened) and switch remote access for support
on or off (``agent.live.ConsentStore``). Text is English or Simplified Chinese, by configuration or the
browser's language.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Self

import jinja2
from aiohttp import web

from shared.aio import cancel_and_wait
from shared.models import DiagnosisReport

from ..config import AgentConfig
from ..errors import AgentError
from ..live import Consent, ConsentStore
from ..selfcheck import self_check, send_to_support
from .texts import TEXTS, pick_language

MAX_JOBS = 20


@dataclass
class Job:
    id: str
    step: str = "starting"
    report: DiagnosisReport | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None
    ticket: str | None = None
    sent_message: str | None = None


CONFIG = web.AppKey("config", AgentConfig)
PAGE = web.AppKey("page", "OneClickPage")


class OneClickPage:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        env = jinja2.Environment(loader=jinja2.FunctionLoader(self._template), autoescape=True)
        self._page = env.get_template("page.html")
        self.consent = ConsentStore(config.state_dir, config.live.consent)

    @staticmethod
    def _template(name: str) -> str:
        return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")

    def app(self) -> web.Application:
        app = web.Application()
        app[CONFIG] = self.config
        app[PAGE] = self
        app.router.add_get("/", self._index)
        app.router.add_post("/api/check", self._start)
        app.router.add_get("/api/check/{job}", self._status)
        app.router.add_post("/api/check/{job}/send", self._send)
        app.router.add_post("/api/consent", self._set_consent)
        return app

    async def __aenter__(self) -> Self:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.web.host, self.config.web.port)
        await site.start()
        server = site._server  # noqa: SLF001 - the bound port when port 0 was asked for
        self.port = server.sockets[0].getsockname()[1] if server and server.sockets else self.config.web.port
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in list(self._tasks):
            await cancel_and_wait(task)
        if self._runner is not None:
            await self._runner.cleanup()

    # -- handlers -----------------------------------------------------------------------------------------------
    def _language(self, request: web.Request) -> str:
        return pick_language(self.config.web.language, request.headers.get("Accept-Language", ""))

    async def _index(self, request: web.Request) -> web.Response:
        language = self._language(request)
        html = self._page.render(t=TEXTS[language], language=language, consent=self.consent.current().mode)
        return web.Response(text=html, content_type="text/html")

    async def _start(self, request: web.Request) -> web.Response:
        if len(self.jobs) >= MAX_JOBS:
            oldest = next(iter(self.jobs))
            del self.jobs[oldest]
        job = Job(uuid.uuid4().hex)
        self.jobs[job.id] = job
        task = asyncio.create_task(self._run(job), name=f"self-check-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({"job": job.id}, status=202)

    async def _run(self, job: Job) -> None:
        def progress(step: str) -> None:
            job.step = step

        try:
            job.report, job.files = await self_check(self.config, progress)
            job.step = "done"
        except (AgentError, OSError) as exc:
            job.error, job.step = str(exc), "failed"

    def _job(self, request: web.Request) -> Job:
        job = self.jobs.get(request.match_info["job"])
        if job is None:
            raise web.HTTPNotFound(text="no such check")
        return job

    async def _status(self, request: web.Request) -> web.Response:
        job, language = self._job(request), self._language(request)
        body: dict[str, Any] = {"step": job.step, "step_text": TEXTS[language]["steps"].get(job.step, ""),
                                "error": job.error, "ticket": job.ticket, "sent": job.sent_message}
        if job.report is not None:
            body["result"] = _plain(job.report, language)
        return web.json_response(body)

    async def _send(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if job.report is None:
            raise web.HTTPConflict(text="the check has not finished")
        if job.ticket is None:
            try:
                sent = await asyncio.to_thread(send_to_support, self.config, job.report, job.files)
            except AgentError as exc:
                return web.json_response({"error": str(exc)}, status=409)
            job.ticket, job.sent_message = sent.ticket_id, sent.message
        return web.json_response({"ticket": job.ticket, "message": job.sent_message})

    async def _set_consent(self, request: web.Request) -> web.Response:
        data = await request.post()
        mode = data.get("mode")
        if mode not in ("off", "ask", "allowed"):
            raise web.HTTPBadRequest(text="mode must be off, ask or allowed")
        await asyncio.to_thread(self.consent.set, Consent(mode))  # type: ignore[arg-type]
        return web.json_response({"consent": mode})


def _plain(report: DiagnosisReport, language: str) -> dict[str, Any]:
    """The report as the page shows it: the unexpected findings first, in the customer's language."""
    findings = []
    for finding in report.findings:
        text = finding.translations.get(language, finding.explanation) if language != "en" else finding.explanation
        findings.append({"title": finding.title, "expected": finding.expected, "root_cause": finding.root_cause.value,
                         "symptom": text.symptom, "cause": text.root_cause, "solution": text.solution, "risk": text.risk})
    return {"verdict": report.verdict.value, "priority": report.priority.value, "findings": findings,
            "healthy": report.verdict.value == "healthy"}
