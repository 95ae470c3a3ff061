"""The ``/api/v1`` routes, one module per resource. ``openapi.yaml`` beside them documents every route."""

from __future__ import annotations

from . import agents, bundles, connectors, enrol, fleet, live, meta, metrics, notify, support, tickets

ROUTE_TABLES = (
    meta.routes,
    enrol.routes,
    bundles.routes,
    tickets.routes,
    agents.routes,
    live.routes,
    support.routes,
    notify.routes,
    connectors.routes,
    fleet.routes,
    metrics.routes,
)
