"""Live state: engineers ask an agent through the support broker; presence for everyone who may see the hub."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from shared.live import METHODS, LiveErrorCode

from ..auth import check_household, principal, principal_and, require_role
from ..errors import BadRequest, CollectorError, NotFound
from ..live import LiveTimeout, LiveUnavailable
from ..live_service import LiveService
from ..metrics import LiveOutcome
from ..models import AgentRecord, Principal, Role
from ..state import CLOCK, DB, LIVE, METRICS
from ..store import Store
from .bodies import LiveAnswer, PresenceAnswer
from .common import json_body, model_json

routes = web.RouteTableDef()

# How an agent's refusal or failure reads over HTTP.
_ERROR_STATUS = {
    LiveErrorCode.CONSENT_REFUSED: 409,
    LiveErrorCode.CONSENT_PENDING: 409,
    LiveErrorCode.UNKNOWN_METHOD: 400,
    LiveErrorCode.BAD_REQUEST: 400,
    LiveErrorCode.NOT_FOUND: 404,
    LiveErrorCode.DEADLINE_EXCEEDED: 504,
}


def _live(request: web.Request) -> LiveService:
    live = request.app.get(LIVE)
    if live is None or live.relay is None:
        raise LiveUnavailable("live state is not configured on this collector")
    return live


async def _agent(request: web.Request, who: Principal) -> AgentRecord:
    return _visible(who, await request.app[DB].run(Store.get_agent, request.match_info["agent_id"]))


def _visible(who: Principal, agent: AgentRecord | None) -> AgentRecord:
    if agent is None:
        raise NotFound("no such agent", code="agent_not_found")
    check_household(who, agent.household)
    return agent


def presence_of(live: LiveService | None, agent_id: str) -> PresenceAnswer:
    seen = None if live is None or live.relay is None else live.relay.presence(agent_id)
    return PresenceAnswer(
        agent_id=agent_id, online=None if seen is None else seen.online, since=None if seen is None else seen.since
    )


@routes.get("/api/v1/agents/{agent_id}/presence")
async def presence(request: web.Request) -> web.Response:
    """Online or offline since when; a customer may see their own hub's."""
    agent = await _agent(request, await principal(request))
    return model_json(presence_of(request.app.get(LIVE), agent.agent_id))


@routes.post("/api/v1/agents/{agent_id}/live/{method}")
async def live_request(request: web.Request) -> web.Response:
    """Relay one request to the agent and return its answer. Every request is audited with its outcome, refused
    ones (role, household, unknown agent or method, bad body) with the reason."""
    agent_id = request.match_info["agent_id"]
    who, found = await principal_and(request, lambda store: store.get_agent(agent_id))
    method = request.match_info["method"]
    try:
        require_role(who, Role.ENGINEER, Role.ADMIN)
        agent = _visible(who, found)
        if method not in METHODS:
            raise BadRequest(f"unknown live method {method[:64]!r}; known: {sorted(METHODS)}", code="unknown_method")
        params: dict[str, Any] = await json_body(request) if request.can_read_body else {}
    except CollectorError as refused:
        await audit_live_request(request, who, method, agent_id, {"outcome": refused.code, "reason": refused.message})
        raise
    return model_json(await relay(request, who, agent, method, params))


async def audit_live_request(
    request: web.Request, who: Principal, method: str, target: str, detail: dict[str, Any]
) -> None:
    """One entry of the audit trail for a live request, whatever became of it."""
    # The method and target come from the URL: bounded so a refused request cannot bloat the audit trail.
    action = f"live.{method}" if method in METHODS else "live.unknown_method"
    await request.app[DB].run(Store.audit, who.name, action, target[:128], detail, request.app[CLOCK]())


LIVE_OUTCOMES = frozenset(outcome.value for outcome in LiveOutcome)


def _live_outcome(outcome: str) -> LiveOutcome:
    """The audit's outcome (an agent's error code is free text) as one of a few metric labels."""
    return LiveOutcome(outcome) if outcome in LIVE_OUTCOMES else LiveOutcome.AGENT_ERROR


async def relay(
    request: web.Request, who: Principal, agent: AgentRecord, method: str, params: dict[str, Any]
) -> LiveAnswer:
    """Ask the agent and audit the request with its outcome; refusals and timeouts raise their API errors."""
    started = time.perf_counter()
    outcome, error = "ok", None
    try:
        live = _live(request)
        assert live.relay is not None
        answer = await live.relay.request(
            agent.agent_id, method, params, timeout_s=live.request_timeout_s, requested_by=who.name
        )
        if answer.error is not None:
            outcome = answer.error.code
            error = CollectorError(
                answer.error.message, code=answer.error.code, status=_ERROR_STATUS.get(answer.error.code, 502)
            )
    except LiveTimeout as exc:
        seen = presence_of(request.app.get(LIVE), agent.agent_id)
        state = (
            "never seen"
            if seen.online is None
            else f"{'online' if seen.online else 'offline'} since {seen.since:%Y-%m-%d %H:%M:%S}Z"
        )
        outcome, error = "timeout", LiveTimeout(f"{exc} (agent {state})")
    except LiveUnavailable as exc:
        outcome, error = "unavailable", exc
    elapsed_ms = (time.perf_counter() - started) * 1000
    request.app[METRICS].live_request(_live_outcome(outcome), elapsed_ms / 1000)
    detail: dict[str, Any] = {"params": params, "outcome": outcome, "elapsed_ms": round(elapsed_ms, 1)}
    if error is not None:
        detail["reason"] = error.message
    await audit_live_request(request, who, method, agent.agent_id, detail)
    if error is not None:
        raise error
    return LiveAnswer(agent_id=agent.agent_id, method=method, result=answer.result, elapsed_ms=elapsed_ms)
