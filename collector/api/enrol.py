"""Enrolment: a hub exchanges a one-time token for an agent id in a household."""

from __future__ import annotations

from aiohttp import web

from shared.errors import SignatureError
from shared.signing import key_id, public_key_from_text

from ..errors import BadRequest
from ..state import CLOCK, DB, LIVE
from ..store import Store
from .bodies import EnrolAnswer, EnrolRequest
from .common import json_body, model_json, parse_model

routes = web.RouteTableDef()


@routes.post("/api/v1/enroll")
async def enroll(request: web.Request) -> web.Response:
    body = parse_model(EnrolRequest, await json_body(request))
    try:
        key = public_key_from_text(body.public_key)
    except SignatureError as exc:
        raise BadRequest(str(exc), code="public_key_invalid") from exc
    agent, pseudonym_key = await request.app[DB].run(
        Store.enrol,
        body.token,
        public_key=body.public_key,
        key_id=key_id(key),
        hostname=body.hostname,
        now=request.app[CLOCK](),
    )
    live = request.app.get(LIVE)
    grant = None if live is None else await live.grant(agent.agent_id)
    answer = EnrolAnswer(agent_id=agent.agent_id, household=agent.household, pseudonym_key=pseudonym_key, live=grant)
    return model_json(answer, status=201)
