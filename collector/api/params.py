"""Path and query parameters checked against the OpenAPI document before any API handler runs.

The document is the contract: a parameter it types as an integer, a boolean, an enum or a bounded value is
refused with 400 (``parameter_invalid``) when the request says otherwise, and so is a documented parameter
given twice. An integer path id beyond what the store can hold names nothing: 404, like any missing id.
Parameters the document does not name are ignored (OpenAPI does not forbid them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from aiohttp import web

from ..errors import BadRequest, NotFound
from .common import INT64_MAX
from .meta import openapi_document

_INTEGER = re.compile(r"-?[0-9]{1,4000}")  # below int()'s digit limit
_BOOLEANS = frozenset({"true", "false", "1", "0"})


@cache
def _parameters() -> dict[tuple[str, str], tuple[dict[str, Any], ...]]:
    """(METHOD, path template) → the operation's documented parameters."""
    found = {}
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            found[(method.upper(), path)] = tuple(operation.get("parameters", ()))
    return found


def load_contract() -> None:
    """Read the OpenAPI document and index its parameters now: YAML parsing and schema generation, done at
    startup in a worker thread rather than on the event loop by the first request."""
    _parameters()


def _checked(value: str, schema: Mapping[str, Any], name: str, in_path: bool) -> None:
    kind = schema.get("type", "string")
    if kind == "integer":
        if not _INTEGER.fullmatch(value):
            raise BadRequest(f"{name} must be an integer", code="parameter_invalid")
        number = int(value)
        if in_path and not -INT64_MAX <= number <= INT64_MAX:
            raise NotFound(f"no {name} {value}", code="not_found")
        if number < schema.get("minimum", -INT64_MAX) or number > schema.get("maximum", INT64_MAX):
            raise BadRequest(
                f"{name} must be between {schema.get('minimum', -INT64_MAX)} and {schema.get('maximum', INT64_MAX)}",
                code="parameter_invalid",
            )
    elif kind == "boolean" and value not in _BOOLEANS:
        raise BadRequest(f"{name} must be true or false (or 1 or 0)", code="parameter_invalid")
    if "enum" in schema and value not in schema["enum"]:
        raise BadRequest(f"{name} must be one of {schema['enum']}", code="parameter_invalid")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise BadRequest(
            f"{name} does not look like {schema.get('example', schema['pattern'])}", code="parameter_invalid"
        )


def check_parameters(request: web.Request) -> None:
    """Raise 400/404 for a request whose parameters the OpenAPI document forbids; routes it does not name pass."""
    resource = request.match_info.route.resource
    documented = _parameters().get((request.method, resource.canonical)) if resource is not None else None
    if not documented:
        return
    for parameter in documented:
        name, schema = parameter["name"], parameter.get("schema", {})
        if parameter["in"] == "path":
            _checked(request.match_info[name], schema, name, in_path=True)
        elif parameter["in"] == "query":
            values = request.query.getall(name, [])
            if len(values) > 1:
                raise BadRequest(f"{name} is given {len(values)} times", code="parameter_invalid")
            if values:
                _checked(values[0], schema, name, in_path=False)
