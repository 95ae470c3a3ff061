"""create_bundle: gathered facts plus the caller's files, redacted before signing."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest

from agent.bundler import create_bundle
from agent.config import AgentConfig
from agent.errors import AgentError, NotEnrolled
from agent.identity import Enrollment, Identity
from shared.bundle import read_bundle
from shared.models import CaptureWindow, Trigger, TriggerKind, utcnow
from tests.configs import agent_config

SECRET = "hunter2-very-secret"
MAC = "a4:cf:12:34:56:78"


def _window() -> CaptureWindow:
    now = utcnow()
    return CaptureWindow(start=now - timedelta(minutes=10), end=now)


@pytest.fixture
def enrolled(tmp_path: Path) -> tuple[AgentConfig, Identity]:
    config = agent_config(tmp_path)
    identity = Identity.load_or_create(tmp_path)
    identity.save_enrollment(
        Enrollment(
            agent_id="agent-7",
            household="hh-7",
            pseudonym_key=base64.b64encode(b"p" * 32).decode(),
            collector_url="http://127.0.0.1:8470",
            enrolled_at=utcnow(),
        )
    )
    return config, identity


def test_bundle_carries_facts_and_extra_files_redacted_and_signed(enrolled: tuple[AgentConfig, Identity]) -> None:
    config, identity = enrolled
    extra = {
        "inventory.json": json.dumps({"devices": [{"mac": MAC, "wifi": {"password": SECRET}}]}).encode(),
        "logs/hub.log": f"2026-01-01 wifi joined, password={SECRET} mac {MAC}\n".encode(),
    }
    trigger = Trigger(kind=TriggerKind.FAULT, signature="router_reboot", urgent=True)
    manifest, data = create_bundle(config, identity, trigger=trigger, window=_window(), extra_files=extra)
    assert (manifest.agent_id, manifest.household, manifest.trigger) == ("agent-7", "hh-7", trigger)
    verified = read_bundle(data, identity.public_key)
    assert set(verified.files) == {"host.json", "network.json", "inventory.json", "logs/hub.log"}
    everything = b"".join(verified.files.values())
    assert SECRET.encode() not in everything
    assert MAC.encode() not in everything
    assert sum(manifest.redaction.removed.values()) >= 2
    host = json.loads(verified.files["host.json"])
    assert {"os", "uptime_s", "memory"} <= host.keys()


def test_redaction_can_be_switched_off_for_the_lab(enrolled: tuple[AgentConfig, Identity]) -> None:
    config, identity = enrolled
    config = config.model_copy(update={"redaction": config.redaction.model_copy(update={"enabled": False})})
    manifest, data = create_bundle(
        config,
        identity,
        trigger=Trigger(kind=TriggerKind.MANUAL),
        window=_window(),
        extra_files={"logs/x.log": MAC.encode()},
    )
    assert read_bundle(data, identity.public_key).files["logs/x.log"] == MAC.encode()
    assert manifest.redaction.replaced == {} and manifest.redaction.removed == {}


def test_extra_files_may_not_replace_the_gathered_facts(enrolled: tuple[AgentConfig, Identity]) -> None:
    config, identity = enrolled
    with pytest.raises(AgentError, match=r"host\.json"):
        create_bundle(
            config,
            identity,
            trigger=Trigger(kind=TriggerKind.MANUAL),
            window=_window(),
            extra_files={"host.json": b"{}"},
        )


def test_needs_enrolment(tmp_path: Path) -> None:
    identity = Identity.load_or_create(tmp_path)
    with pytest.raises(NotEnrolled):
        create_bundle(agent_config(tmp_path), identity, trigger=Trigger(kind=TriggerKind.MANUAL), window=_window())


def test_the_trigger_and_file_names_are_redacted_too(enrolled: tuple[AgentConfig, Identity]) -> None:
    config, identity = enrolled
    device = f"mac:{MAC}"
    trigger = Trigger(kind=TriggerKind.FAULT, signature=f"device_offline:{device}", summary=f"{device} offline")
    manifest, data = create_bundle(
        config,
        identity,
        trigger=trigger,
        window=_window(),
        extra_files={"logs/mac_a4_cf_12_34_56_78.log": f"{device} gone\n".encode()},
    )
    verified = read_bundle(data, identity.public_key)
    assert MAC not in manifest.model_dump_json() and "a4_cf_12_34_56_78" not in manifest.model_dump_json()
    [log_name] = [name for name in verified.files if name.startswith("logs/")]
    pseudonym = manifest.trigger.signature.removeprefix("device_offline:mac:")  # type: ignore[union-attr]
    assert log_name == f"logs/mac_{pseudonym.replace(':', '_')}.log"
    assert verified.files[log_name].decode() == f"mac:{pseudonym} gone\n"
