"""The API holds its own contract: schemathesis, driven by the served OpenAPI document, against a real collector
process, signed in as each role in turn.

For every operation it sends schema-valid requests (positive) and requests the schema forbids (negative), with
all of schemathesis's response checks: no 5xx, every status documented, every answer matching its schema,
forbidden requests answered 4xx, valid ones not refused. Examples are bounded (``MAX_EXAMPLES`` per operation,
mode and role) and the seed is printed, so a failure reproduces with ``HOMEDIAG_CONTRACT_SEED``.

The role's bearer token is given to schemathesis as the document's ``bearer`` scheme, so it also checks that
requests without it or with a wrong one are refused (``ignored_auth``). Who may see what is in test_access.py.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from collector.models import Role
from collector.store import Store
from collector.store.backends.sqlite import SqliteBackend
from lab.collector_process import CollectorProcess
from shared.bundle import build_bundle
from shared.models import CaptureWindow, Priority, RedactionSummary, Trigger, TriggerKind, utcnow
from shared.signing import generate_private_key, public_key_to_text

from .conftest import NOW

MAX_EXAMPLES = 12
ROLES = ("admin", "engineer", "partner", "customer")
SEED = int(os.environ.get("HOMEDIAG_CONTRACT_SEED") or random.SystemRandom().randrange(2**32))
BUNDLE_TYPE = "application/vnd.homediag.bundle+gzip"


@schemathesis.serializer(BUNDLE_TYPE)
def _raw_bytes(ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


class Seeded:
    def __init__(self, collector: CollectorProcess, tokens: dict[str, str], document: dict[str, Any]) -> None:
        self.collector, self.tokens, self.document = collector, tokens, document


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    collector = CollectorProcess(Path(tmp_path_factory.mktemp("contract")) / "collector")
    collector.start()
    try:
        store = Store(
            SqliteBackend(collector.data_dir / "collector.sqlite3")
        )  # what the admin CLI does, without 5 interpreters
        try:
            tokens = {
                role: store.create_user(role, Role(role), "hh-a" if role == "customer" else None, NOW)[1]
                for role in ROLES
            }
            enrol = store.create_enrol_token("hh-a", timedelta(days=1), utcnow())[0]
        finally:
            store.close()
        key = generate_private_key()
        status, body = collector.request(
            "POST",
            "/api/v1/enroll",
            body={"token": enrol, "public_key": public_key_to_text(key.public_key()), "hostname": "hub"},
        )
        assert status == 201, body
        agent_id = json.loads(body)["agent_id"]
        _, data = build_bundle(
            files={"host.json": b"{}"},
            agent_id=agent_id,
            household="hh-a",
            trigger=Trigger(
                kind=TriggerKind.SELF_DIAGNOSIS, open_ticket=True, priority=Priority.P2, summary="the plug drops off"
            ),
            window=CaptureWindow(start=NOW, end=NOW),
            redaction=RedactionSummary(),
            private_key=key,
        )
        assert collector.request("POST", "/api/v1/bundles", data=data, content_type=BUNDLE_TYPE)[0] == 201
        document = requests.get(f"{collector.url}/api/v1/openapi.json", timeout=10).json()
        yield Seeded(collector, tokens, document)
    finally:
        collector.stop()


def _constrained(operation: Any) -> bool:
    """Whether the schema forbids anything in this operation's requests (a free string path id forbids nothing)."""
    definition = operation.definition.raw
    return "application/json" in definition.get("requestBody", {}).get("content", {}) or any(
        parameter.get("schema", {}).get("type", "string") != "string"
        or set(parameter.get("schema", {})) & {"enum", "pattern"}
        for parameter in definition.get("parameters", [])
    )


def _exercise(
    operation: Any,
    mode: GenerationMode,
    excluded: list[Any],
    base_url: str,
    session: requests.Session,
    statuses: Counter[int],
    failures: dict[tuple[str, str, str], str],
) -> None:
    """One operation's generated requests in one mode: counts the statuses, keeps the first failure of each kind."""

    @seed(SEED)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def exercise(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, timeout=10)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, excluded_checks=excluded)
        except FailureGroup as group:
            for failure in group.exceptions:
                key = (operation.label, mode.value, getattr(failure, "title", type(failure).__name__))
                failures.setdefault(key, f"{case.as_curl_command()}\n{failure}"[:1500])

    exercise()


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_keeps_the_contract(seeded: Seeded, role: str) -> None:
    print(f"schemathesis seed {SEED} (HOMEDIAG_CONTRACT_SEED={SEED} to repeat)")
    config = SchemathesisConfig.from_dict({"auth": {"openapi": {"bearer": {"bearer": seeded.tokens[role]}}}})
    schema = schemathesis.openapi.from_dict(seeded.document, config=config)
    session = requests.Session()
    failures: dict[tuple[str, str, str], str] = {}
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        # Random bytes are "a binary body" to the schema but never a bundle: hostile bundles have their own tests.
        excluded = (
            [positive_data_acceptance]
            if operation.definition.raw.get("requestBody", {}).get("content", {}).get(BUNDLE_TYPE)
            else []
        )
        if role == "customer" and operation.label == "POST /api/v1/tickets":
            excluded.append(negative_data_rejection)  # a customer's household comes from the token (documented)
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if _constrained(operation) else [])
        for mode in modes:
            _exercise(operation, mode, excluded, seeded.collector.url, session, statuses, failures)
    session.close()
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    print(
        f"{role}: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}, "
        f"{server_errors} server errors, {len(failures)} contract failures"
    )
    assert not failures, "\n\n".join(f"{key}:\n{detail}" for key, detail in sorted(failures.items()))
    assert server_errors == 0
