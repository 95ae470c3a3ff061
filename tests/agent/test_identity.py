"""The agent's key pair and enrolment record on real files."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import NotEnrolled
from agent.identity import Enrollment, Identity, IdentityError
from shared.signing import public_key_from_text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _enrollment() -> Enrollment:
    return Enrollment(
        agent_id="agent-1",
        household="hh-1",
        pseudonym_key=base64.b64encode(b"k" * 32).decode(),
        collector_url="http://127.0.0.1:8470",
        enrolled_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_first_start_creates_a_private_key_and_reuses_it(tmp_path: Path) -> None:
    first = Identity.load_or_create(tmp_path)
    key = tmp_path / "identity" / "agent.key"
    assert _mode(key) == 0o600
    assert _mode(tmp_path / "identity") == 0o700
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert not list((tmp_path / "identity").glob(".tmp-*"))
    second = Identity.load_or_create(tmp_path)
    assert second.public_key_text == first.public_key_text
    assert len(base64.b64decode(first.public_key_text)) == 32
    public_key_from_text(first.public_key_text)


def test_key_is_created_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0)
    try:
        Identity.load_or_create(tmp_path)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "identity" / "agent.key") == 0o600


def test_a_loosened_key_file_is_restricted_again(tmp_path: Path) -> None:
    Identity.load_or_create(tmp_path)
    key = tmp_path / "identity" / "agent.key"
    key.chmod(0o644)
    Identity.load_or_create(tmp_path)
    assert _mode(key) == 0o600


def test_a_damaged_key_is_a_clear_error(tmp_path: Path) -> None:
    Identity.load_or_create(tmp_path)
    (tmp_path / "identity" / "agent.key").write_bytes(b"garbage")
    with pytest.raises(IdentityError, match=r"agent\.key"):
        Identity.load_or_create(tmp_path)


def test_enrollment_round_trip_and_not_enrolled_message(tmp_path: Path) -> None:
    identity = Identity.load_or_create(tmp_path)
    assert identity.enrollment is None
    with pytest.raises(NotEnrolled, match="homediag-agent enroll --token"):
        identity.require_enrollment()
    identity.save_enrollment(_enrollment())
    path = tmp_path / "identity" / "enrollment.json"
    assert _mode(path) == 0o600
    assert json.loads(path.read_text())["household"] == "hh-1"
    again = Identity.load_or_create(tmp_path)
    assert again.require_enrollment() == _enrollment()
    assert again.require_enrollment().pseudonym_key_bytes == b"k" * 32


def test_damaged_enrollment_is_a_clear_error(tmp_path: Path) -> None:
    Identity.load_or_create(tmp_path)
    (tmp_path / "identity" / "enrollment.json").write_text('{"agent_id": 1}')
    with pytest.raises(IdentityError, match="enroll again"):
        Identity.load_or_create(tmp_path)


def test_load_without_a_key_refuses(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="no key yet"):
        Identity.load(tmp_path)


def test_environment_overrides_the_agent_sections(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(f"state_dir: {tmp_path}\nspool:\n  max_files: 5\ncollector:\n  url: http://127.0.0.1:1\n")
    config = load_config(
        path,
        environ={
            "HOMEDIAG_SPOOL__MAX_BYTES": "4096",
            "HOMEDIAG_UPLOAD__BACKOFF_MAX_S": "2.5",
            "HOMEDIAG_COLLECTOR__URL": "http://127.0.0.1:9",
        },
    )
    assert config.spool.max_files == 5
    assert config.spool.max_bytes == 4096
    assert config.upload.backoff_max_s == 2.5
    assert config.collector.url == "http://127.0.0.1:9"
    assert config.state_dir == tmp_path
