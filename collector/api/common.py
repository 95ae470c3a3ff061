"""Small helpers shared by the route modules."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..errors import BadRequest

ModelT = TypeVar("ModelT", bound=BaseModel)


def model_json(value: BaseModel | list[BaseModel] | dict[str, Any], status: int = 200) -> web.Response:
    if isinstance(value, BaseModel):
        body: Any = value.model_dump(mode="json")
    elif isinstance(value, list):
        body = [item.model_dump(mode="json") for item in value]
    else:
        body = value
    return web.json_response(body, status=status)


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadRequest("the request body is not JSON", code="body_invalid") from exc
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object", code="body_invalid")
    return body


def parse_model(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(f"{where}: {first['msg']}", code="body_invalid") from exc


def int_param(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError as exc:
        raise BadRequest(f"{name} must be a number", code="bad_request") from exc
