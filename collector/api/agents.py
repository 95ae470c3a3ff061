"""Enrolled agents: listing and revocation."""

from __future__ import annotations

from aiohttp import web

from ..auth import household_filter, principal, require_role
from ..models import Role
from ..state import CLOCK, DB
from ..store import SqliteStore
from .common import model_json

routes = web.RouteTableDef()


@routes.get("/api/v1/agents")
async def list_agents(request: web.Request) -> web.Response:
    who = await principal(request)
    household = household_filter(who) or request.query.get("household")
    agents = await request.app[DB].run(SqliteStore.list_agents, household)
    return model_json({"agents": [agent.model_dump(mode="json") for agent in agents]})


@routes.post("/api/v1/agents/{agent_id}/revoke")
async def revoke_agent(request: web.Request) -> web.Response:
    """From now on the agent's bundles are refused (``agent_revoked``); stored ones stay."""
    who = await principal(request)
    require_role(who, Role.ENGINEER, Role.ADMIN)
    agent = await request.app[DB].run(SqliteStore.revoke_agent, request.match_info["agent_id"], who.name,
                                      request.app[CLOCK]())
    return model_json(agent)
