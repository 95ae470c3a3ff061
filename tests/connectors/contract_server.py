"""A helpdesk we cannot run, replayed from its documented contract (contracts/*.yaml) by a real aiohttp server on
loopback: each request must match one documented exchange — method, path, query, authorization, content type,
the JSON fields the contract names (``public: false`` among them), the uploaded file — and gets that exchange's
documented answer. Anything else is answered 400 and recorded as a violation, which the tests assert are none.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

CONTRACTS = Path(__file__).with_name("contracts")


def load_contract(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONTRACTS / f"{name}.yaml").read_text())  # type: ignore[no-any-return]


def _filled(value: Any, values: dict[str, str]) -> Any:
    """The contract's ``{name}`` placeholders replaced with this run's values."""
    if isinstance(value, str):
        for key, replacement in values.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, list):
        return [_filled(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _filled(item, values) for key, item in value.items()}
    return value


def contains(actual: Any, expected: Any) -> bool:
    """``actual`` holds everything ``expected`` names (objects: a subset of keys; lists: item by item)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return actual == expected and type(actual) is type(expected)


@dataclass
class Seen:
    exchange: str
    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    file: bytes | None = None


@dataclass
class ContractServer:
    contract: dict[str, Any]
    user: str
    token: str
    values: dict[str, str] = field(default_factory=dict)
    bundle: bytes | None = None  # what an upload must carry, byte for byte
    seen: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    rate_limit_next: int = 0  # answer this many requests with the documented 429 first
    undocumented_answers: bool = False  # answer 201 {} to everything: a helpdesk that breaks its own contract

    def _authorization(self) -> str:
        template = re.fullmatch(r"Basic base64\((.*)\)", self.contract["authorization"])
        assert template is not None
        plain = template.group(1).replace("{user}", self.user).replace("{token}", self.token)
        return "Basic " + base64.b64encode(plain.encode()).decode()

    async def _body(self, request: web.Request, spec: dict[str, Any]) -> tuple[Any, bytes | None, str | None]:
        """(JSON, uploaded file, why it does not match) of a request, read as the spec's content type says."""
        kind = spec.get("content_type")
        if kind is None:
            return None, None, None
        if request.content_type != kind:
            return None, None, f"content type {request.content_type}, documented {kind}"
        if kind == "application/json":
            return await request.json(), None, None
        if kind == "application/binary":
            return None, await request.read(), None
        wanted = _filled(spec["multipart_file"], self.values)
        data = None
        async for part in await request.multipart():
            if part.name == wanted["field"] and part.filename == wanted["filename"]:  # type: ignore[union-attr]
                data = await part.read()  # type: ignore[union-attr]
        return None, data, None if data is not None else f"no file field {wanted['field']} named {wanted['filename']}"

    def _matches(self, request: web.Request, spec: dict[str, Any]) -> bool:
        if request.method != spec["method"] or request.path != _filled(spec["path"], self.values):
            return False
        return all(request.query.get(k) == v for k, v in _filled(spec.get("query", {}), self.values).items())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.undocumented_answers:
            return web.json_response({}, status=201)
        candidates = [e for e in self.contract["exchanges"] if self._matches(request, e["request"])]
        if not candidates:
            return self._refuse(f"{request.method} {request.path_qs}: no documented exchange")
        if request.headers.get("Authorization") != self._authorization():
            return self._refuse(f"{request.method} {request.path}: wrong or missing Authorization")
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            answer = self.contract["rate_limited"]["response"]
            return web.json_response(answer["json"], status=answer["status"], headers=answer["headers"])
        spec = candidates[0]["request"]
        body, file, problem = await self._body(request, spec)
        if problem is not None:
            return self._refuse(f"{request.method} {request.path}: {problem}")
        for exchange in candidates:
            wanted = exchange["request"]
            headers_ok = all(
                request.headers.get(k) == v for k, v in _filled(wanted.get("headers", {}), self.values).items()
            )
            json_ok = "json" not in wanted or contains(body, _filled(wanted["json"], self.values))
            file_ok = not (wanted.get("body_is_bundle") or wanted.get("multipart_file", {}).get("body_is_bundle")) or (
                file == self.bundle
            )
            if headers_ok and json_ok and file_ok:
                self.seen.append(
                    Seen(exchange["name"], request.method, request.path, dict(request.headers), body, file)
                )
                answer = _filled(exchange["response"], self.values)
                if "json" not in answer:
                    return web.Response(status=answer["status"])
                return web.json_response(answer["json"], status=answer["status"])
        return self._refuse(f"{request.method} {request.path}: the body differs from every documented exchange: {body}")

    def _refuse(self, why: str) -> web.Response:
        self.violations.append(why)
        return web.json_response({"error": why}, status=400)


async def start_contract_server(server: ContractServer) -> TestServer:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", server.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    return test_server
