"""The agent's answer to a live request is a pure decision: consent, method, params, deadline, size."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.live import Consent, answer, encode_response
from shared.live import MAX_RESPONSE_BYTES, LiveRequest, LiveResponse
from shared.models import utcnow

from .handlers import FakeHomeHandlers

NOW = utcnow()


def _request(method: str, **params: object) -> bytes:
    return LiveRequest(method=method, params=params, deadline=NOW + timedelta(seconds=5)).model_dump_json().encode()


async def test_allowed_request_is_answered() -> None:
    response = await answer(_request("device.state", device_id="plug-1"), Consent("allowed"), FakeHomeHandlers(), NOW)
    assert response.ok and response.result["firmware"] == "13.4.0"


async def test_consent_off_refuses_with_a_code_the_engineer_sees() -> None:
    response = await answer(_request("inventory"), Consent("off"), FakeHomeHandlers(), NOW)
    assert not response.ok and response.error is not None and response.error.code == "consent_refused"


async def test_ask_mode_needs_a_current_grant() -> None:
    pending = await answer(_request("inventory"), Consent("ask"), FakeHomeHandlers(), NOW)
    assert pending.error is not None and pending.error.code == "consent_pending"
    granted = await answer(_request("inventory"), Consent("ask", NOW + timedelta(minutes=5)), FakeHomeHandlers(), NOW)
    assert granted.ok
    expired = await answer(_request("inventory"), Consent("ask", NOW - timedelta(seconds=1)), FakeHomeHandlers(), NOW)
    assert expired.error is not None and expired.error.code == "consent_pending"


async def test_unknown_method_malformed_and_missing_params_get_error_answers() -> None:
    handlers = FakeHomeHandlers()
    unknown = await answer(_request("reboot"), Consent("allowed"), handlers, NOW)
    assert unknown.error is not None and unknown.error.code == "unknown_method"
    garbage = await answer(b"\xff\x00not json", Consent("allowed"), handlers, NOW)
    assert garbage.error is not None and garbage.error.code == "bad_request"
    no_device = await answer(_request("device.state"), Consent("allowed"), handlers, NOW)
    assert no_device.error is not None and no_device.error.code == "bad_request"
    missing = await answer(_request("device.state", device_id="nope"), Consent("allowed"), handlers, NOW)
    assert missing.error is not None and missing.error.code == "not_found"


async def test_expired_deadline_and_slow_handler() -> None:
    handlers = FakeHomeHandlers()
    stale = LiveRequest(method="inventory", deadline=NOW - timedelta(seconds=1)).model_dump_json().encode()
    late = await answer(stale, Consent("allowed"), handlers, NOW)
    assert late.error is not None and late.error.code == "deadline_exceeded"
    handlers.slow = True
    quick = LiveRequest(
        method="device.state", params={"device_id": "plug-1"}, deadline=utcnow() + timedelta(seconds=0.2)
    )
    slow = await answer(quick.model_dump_json().encode(), Consent("allowed"), handlers, utcnow())
    assert slow.error is not None and slow.error.code == "deadline_exceeded"


def test_oversized_answers_become_errors() -> None:
    huge = LiveResponse(ok=True, result="x" * (MAX_RESPONSE_BYTES + 1))
    decoded = LiveResponse.model_validate_json(encode_response(huge))
    assert decoded.error is not None and decoded.error.code == "response_too_large"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
async def test_arbitrary_payloads_always_get_an_answer(payload: bytes) -> None:
    response = await answer(payload, Consent("allowed"), FakeHomeHandlers(), NOW)
    assert isinstance(response, LiveResponse)


def test_consent_store_persists_the_customers_choice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agent.live import ConsentStore

    store = ConsentStore(tmp_path, "off")
    assert store.current() == Consent("off")
    granted = store.grant(30, NOW)
    assert ConsentStore(tmp_path, "off").current() == granted and granted.allows(NOW + timedelta(minutes=29))
    store.set(Consent("allowed"))
    assert store.current().allows(NOW)
    store.path.write_text("{garbage")
    assert store.current() == Consent("off")


def test_consent_command_sets_and_grants(tmp_path: Path) -> None:
    agent = str(Path(sys.executable).with_name("homediag-agent"))
    config = tmp_path / "agent.yaml"
    config.write_text(f"state_dir: {tmp_path}\nlive: {{consent: ask}}\n")

    def consent(*args: str) -> str:
        return subprocess.run(
            [agent, "-c", str(config), "consent", *args], capture_output=True, text=True, check=True
        ).stdout

    assert "ask" in consent("show") and "allowed now: no" in consent("show")
    assert "allowed now: yes" in consent("allow", "--minutes", "30")
    assert "off" in consent("set", "off") and "allowed now: no" in consent("show")
