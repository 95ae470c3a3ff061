"""What upload answers mean, and where bundles go."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from agent.collector_client import DEFAULT_RETRY_AFTER_S, UploadOutcome, collector_url, interpret_upload
from agent.config import AgentConfig
from agent.errors import CollectorUnavailable
from agent.identity import Enrollment
from tests.configs import agent_config


@pytest.mark.parametrize(("status", "already"), [(201, False), (200, True)])
def test_acknowledged(status: int, already: bool) -> None:
    result = interpret_upload(status, {}, {"bundle_id": "b", "status": "stored", "ticket_id": 7, "verified": True})
    assert result.outcome is UploadOutcome.DELIVERED
    assert (result.bundle_id, result.ticket_id, result.already_stored) == ("b", "7", already)


@pytest.mark.parametrize("status", [400, 403, 409, 413, 422])
def test_final_refusals_keep_the_collectors_code(status: int) -> None:
    result = interpret_upload(status, {}, {"error": {"code": "signature_invalid", "message": "bad"}})
    assert result.outcome is UploadOutcome.REJECTED
    assert (result.status, result.code, result.message) == (status, "signature_invalid", "bad")


def test_conflict_without_a_body_still_says_what_it_is() -> None:
    assert interpret_upload(409, {}, None).code == "bundle_conflict"
    assert interpret_upload(413, {}, None).code == "bundle_too_large"


def test_rate_limit_reads_retry_after() -> None:
    result = interpret_upload(429, {"Retry-After": "7"}, {"error": {"code": "rate_limited", "message": ""}})
    assert result.outcome is UploadOutcome.RETRY_AFTER and result.retry_after_s == 7.0
    assert interpret_upload(429, {}, None).retry_after_s == DEFAULT_RETRY_AFTER_S
    assert (
        interpret_upload(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None).retry_after_s
        == DEFAULT_RETRY_AFTER_S
    )
    assert interpret_upload(429, {"Retry-After": "-3"}, None).retry_after_s == 0.0


@pytest.mark.parametrize("status", [500, 502, 503, 404, 418])
def test_server_errors_and_surprises_mean_try_later(status: int) -> None:
    with pytest.raises(CollectorUnavailable):
        interpret_upload(status, {}, None)


def test_bundles_follow_the_enrolment_unless_configured() -> None:
    enrollment = Enrollment(
        agent_id="a",
        household="h",
        pseudonym_key=base64.b64encode(bytes(32)).decode(),
        collector_url="http://127.0.0.1:1111",
        enrolled_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert collector_url(AgentConfig(), enrollment) == "http://127.0.0.1:1111"
    configured = agent_config(collector={"url": "http://127.0.0.1:2222"})
    assert collector_url(configured, enrollment) == "http://127.0.0.1:2222"
