"""``GET /metrics`` for Prometheus (collector/metrics.py says what is counted).

Who may scrape (docs/security.md): with ``metrics.token`` set, a caller with ``Authorization: Bearer <token>``;
without, only a client on the loopback interface (the address a trusted proxy names, as for sign-in throttling).
"""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from ..auth import bearer_token
from ..forwarded import client_address
from ..state import CONFIG, DB, METRICS
from ..store.outbox import pending_job_count

routes = web.RouteTableDef()


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def may_scrape(request: web.Request) -> bool:
    config = request.app[CONFIG]
    if config.metrics.token is not None:
        offered = bearer_token(request) or ""
        return hmac.compare_digest(offered.encode(), config.metrics.token.encode())
    return _is_loopback(client_address(request, config.web))


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    if not request.app[CONFIG].metrics.enabled:
        raise web.HTTPNotFound()
    if not may_scrape(request):
        raise web.HTTPForbidden(reason="metrics are for the loopback interface or the metrics token")
    pending = await request.app[DB].run(pending_job_count)
    body = request.app[METRICS].render(pending)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
