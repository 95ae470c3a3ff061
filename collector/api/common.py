"""Small helpers shared by the route modules."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..errors import BadRequest, NotFound

ModelT = TypeVar("ModelT", bound=BaseModel)
INT64_MAX = 2**63 - 1  # SQLite's INTEGER


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


def _integral_as_int(value: Any) -> Any:
    """JSON has one number type: ``1.0`` is the integer 1 to JSON Schema, so it is to us (strict mode refuses it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_as_int(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_as_int(item) for item in value]
    return value


def parse_model(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """A JSON body as ``model``, strictly as JSON: a number is not a time, a string not a number."""
    try:
        return model.model_validate_json(json.dumps(_integral_as_int(data)), strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(f"{where}: {first['msg']}", code="body_invalid") from exc


def int_param(request: web.Request, name: str) -> int:
    """An integer id from the path; one beyond what the store can hold names nothing (404)."""
    raw = request.match_info[name]
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a number", code="bad_request") from exc
    if not -INT64_MAX <= value <= INT64_MAX:
        raise NotFound(f"no {name} {raw}", code="not_found")
    return value
