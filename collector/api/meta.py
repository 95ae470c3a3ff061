"""Health and the OpenAPI document."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml
from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..fleet import FleetOverview
from ..models import AgentRecord, BundleRecord, Ticket, TicketEvent, TicketIntake
from . import notify, support
from .bodies import (
    AgentWithPresence,
    AttachRequest,
    EnrolAnswer,
    EnrolRequest,
    ErrorBody,
    LiveAnswer,
    NoteRequest,
    PresenceAnswer,
    TicketView,
)

routes = web.RouteTableDef()


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    support.TransitionRequest,
    support.MilestoneRequest,
    support.UpdateRequest,
    support.PriorityRequest,
    support.ClassifyRequest,
    support.AssignRequest,
    support.FollowUpRequest,
    support.ComplaintRequest,
    support.ComplaintMilestoneRequest,
    support.ServiceReport,
    notify.ContactRequest,
    AgentRecord,
    AgentWithPresence,
    AttachRequest,
    BundleRecord,
    EnrolAnswer,
    EnrolRequest,
    ErrorBody,
    FleetOverview,
    LiveAnswer,
    NoteRequest,
    PresenceAnswer,
    Ticket,
    TicketEvent,
    TicketIntake,
    TicketView,
)


@cache
def openapi_document() -> dict[str, Any]:
    """The hand-written paths with component schemas generated from the models, so they cannot drift."""
    document = yaml.safe_load(resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8"))
    _, schemas = models_json_schema(
        [(model, "serialization") for model in SCHEMA_MODELS], ref_template="#/components/schemas/{model}"
    )
    components = schemas.get("$defs", {})
    components["Error"] = components.pop("ErrorBody")
    document["components"]["schemas"] = components
    for item in document["paths"].values():
        for operation in item.values():
            _add_common_errors(operation, secured=operation.get("security", document["security"]) != [])
    return document


def _add_common_errors(operation: dict[str, Any], *, secured: bool) -> None:
    """The answers any operation can give, documented once here rather than on every path: 400 for parameters
    or a body the document forbids, 401 without a valid token, 500 (an error id to quote) for a bug."""
    responses = operation["responses"]
    error = {"$ref": "#/components/responses/Error"}
    if operation.get("parameters") or operation.get("requestBody"):
        responses.setdefault("400", error)
    if secured:
        responses.setdefault("401", error)
    responses.setdefault("500", error)


@routes.get("/healthz")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
