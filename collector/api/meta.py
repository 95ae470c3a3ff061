"""Health and the OpenAPI document."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml
from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..models import AgentRecord, BundleRecord, Ticket, TicketEvent, TicketIntake
from . import notify, support
from .bodies import AttachRequest, EnrolAnswer, EnrolRequest, ErrorBody, LiveAnswer, NoteRequest, PresenceAnswer

routes = web.RouteTableDef()


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    support.TransitionRequest, support.MilestoneRequest, support.UpdateRequest, support.PriorityRequest,
    support.ClassifyRequest, support.AssignRequest, support.FollowUpRequest, support.ComplaintRequest,
    support.ComplaintMilestoneRequest, support.ServiceReport, notify.ContactRequest,
    AgentRecord, AttachRequest, BundleRecord, EnrolAnswer, EnrolRequest, ErrorBody, LiveAnswer, NoteRequest, PresenceAnswer, Ticket,
    TicketEvent, TicketIntake,
)


@cache
def openapi_document() -> dict[str, Any]:
    """The hand-written paths with component schemas generated from the models, so they cannot drift."""
    document = yaml.safe_load(resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8"))
    _, schemas = models_json_schema([(model, "serialization") for model in SCHEMA_MODELS],
                                    ref_template="#/components/schemas/{model}")
    components = schemas.get("$defs", {})
    components["Error"] = components.pop("ErrorBody")
    document["components"]["schemas"] = components
    return document


@routes.get("/healthz")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
