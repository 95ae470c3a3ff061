"""Enrolled agents: listing and revocation."""

from __future__ import annotations

from aiohttp import web

from ..auth import household_filter, principal, require_role
from ..models import Role
from ..state import CLOCK, DB, LIVE
from ..store import Store
from .bodies import AgentWithPresence
from .common import model_json
from .live import presence_of

routes = web.RouteTableDef()


@routes.get("/api/v1/agents")
async def list_agents(request: web.Request) -> web.Response:
    who = await principal(request)
    household = household_filter(who) or request.query.get("household")
    agents = await request.app[DB].run(Store.list_agents, household)
    live = request.app.get(LIVE)
    return model_json(
        {
            "agents": [
                AgentWithPresence(**dict(agent), presence=presence_of(live, agent.agent_id)).model_dump(mode="json")
                for agent in agents
            ]
        }
    )


@routes.post("/api/v1/agents/{agent_id}/revoke")
async def revoke_agent(request: web.Request) -> web.Response:
    """From now on the agent's bundles are refused (``agent_revoked``); stored ones stay."""
    who = await principal(request)
    require_role(who, Role.ENGINEER, Role.ADMIN)
    agent = await request.app[DB].run(
        Store.revoke_agent, request.match_info["agent_id"], who.name, request.app[CLOCK]()
    )
    live = request.app.get(LIVE)
    if live is not None:
        await live.revoke(agent.agent_id)  # its broker account goes too
    return model_json(agent)
