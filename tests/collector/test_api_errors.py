"""Errors at the boundary: the 500s the fuzzer found stay fixed, and a bug answers JSON with an error id."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from collector.api.common import parse_model
from collector.api.support import FollowUpRequest
from collector.app import create_app
from collector.errors import BadRequest
from collector.models import Role
from tests.configs import collector_config

from .conftest import Collector


async def test_the_inputs_that_used_to_answer_500(collector: Collector) -> None:
    admin = collector.user("root", Role.ADMIN)
    cases = {
        f"/api/v1/tickets/{2**64}": (404, "not_found"),  # beyond SQLite's INTEGER
        f"/api/v1/tickets/{-(2**70)}/sla": (404, "not_found"),
        "/api/v1/tickets/1.5": (400, "parameter_invalid"),
        "/api/v1/audit?limit=abc": (400, "parameter_invalid"),
        "/api/v1/audit?limit=-1": (400, "parameter_invalid"),  # SQLite reads LIMIT -1 as "no limit"
        "/api/v1/audit?limit=1&limit=2": (400, "parameter_invalid"),
        "/api/v1/bundles?unattached=maybe": (400, "parameter_invalid"),
        "/api/v1/tickets?state=lost": (400, "parameter_invalid"),
        "/api/v1/reports/monthly?month=0000-01": (400, "parameter_invalid"),
    }
    for path, expected in cases.items():
        status, body = await collector.call("GET", path, admin)
        assert (status, body["error"]["code"]) == expected, (path, body)
    status, body = await collector.call("POST", f"/api/v1/tickets/{2**70}/notes", admin, json={"text": "x"})
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await collector.call(
        "POST",
        "/api/v1/tickets",
        admin,
        json={"household": "hh-a", "device": "d", "symptom": "s", "when": "w", "priority": "P2", "occurred_to": 5},
    )
    assert (status, body["error"]["code"]) == (400, "body_invalid")  # a number is not a time
    assert (await collector.call("GET", "/api/v1/audit?limit=2000", admin))[0] == 200


async def test_an_unexpected_exception_is_a_json_500_with_an_error_id_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise KeyError("a bug")

    app = create_app(collector_config(tmp_path))
    app.router.add_get("/api/v1/broken", broken)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        with caplog.at_level(logging.ERROR, logger="collector.app"):
            answer = await client.get("/api/v1/broken")
            body = await answer.json()
    assert answer.status == 500 and answer.content_type == "application/json"
    assert body["error"]["code"] == "internal_error"
    error_id = re.search(r"error id ([0-9a-f]{16})", body["error"]["message"]).group(1)  # type: ignore[union-attr]
    assert "a bug" not in body["error"]["message"]  # details stay in the log
    [record] = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_a_json_number_with_a_zero_fraction_is_an_integer() -> None:
    """JSON Schema counts 1.0 as an integer, so a schema-valid body is never refused (schemathesis seed 2923286406)."""
    assert parse_model(FollowUpRequest, {"satisfaction": 5.0}).satisfaction == 5
    with pytest.raises(BadRequest):
        parse_model(FollowUpRequest, {"satisfaction": 4.5})
    with pytest.raises(BadRequest):
        parse_model(FollowUpRequest, {"satisfaction": "5"})
