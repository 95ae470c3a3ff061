"""Fleet insight for the support organisation: households per fault signature, firmware and known issue."""

from __future__ import annotations

from aiohttp import web

from .. import fleet
from ..auth import principal, require_role
from ..models import Role
from ..state import CLOCK, DB
from .common import model_json

routes = web.RouteTableDef()


@routes.get("/api/v1/fleet")
async def fleet_overview(request: web.Request) -> web.Response:
    who = await principal(request)
    require_role(who, Role.ENGINEER, Role.ADMIN)
    return model_json(await fleet.overview(request.app[DB], request.app[CLOCK]()))
