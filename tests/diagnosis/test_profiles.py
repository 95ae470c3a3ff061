"""Firmware profiles: valid, sourced, recognised, and each known issue's pattern matches its own sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.diagnosis.devices import matches
from shared.profiles import PROFILE_DIR, FirmwareProfile, in_range, load_profiles
from shared.models import Device

PROFILES = load_profiles()
NOW = datetime(2026, 11, 24, tzinfo=UTC)
REQUIRED = {"zigbee2mqtt", "zigbee_aqara", "zigbee_ikea", "zigbee_hue", "tasmota", "shelly_gen1", "shelly_gen2", "esphome",
            "hue_bridge", "google_cast", "homekit", "sonos"}


def test_every_required_family_has_a_profile_and_the_schema_is_published() -> None:
    assert REQUIRED <= {p.family for p in PROFILES.profiles}
    schema = json.loads((Path(__file__).parents[2] / "docs" / "schemas" / "firmware-profile.schema.json").read_text())
    assert schema == FirmwareProfile.model_json_schema()


@pytest.mark.parametrize("path", sorted(PROFILE_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_known_issue_patterns_match_their_samples(path: Path) -> None:
    profile = next(p for p in PROFILES.profiles if p.family == path.stem)
    for issue in profile.known_issues:
        restarts = issue.pattern.min_restarts or 0
        assert matches(issue.pattern, [issue.sample], issue.sample, [issue.sample] * restarts, restarts), issue.id
        assert not matches(issue.pattern, ["nothing of the kind"], "Power On", [], 0), issue.id


def test_recognition_prefers_the_specific_profile() -> None:
    def profile_of(**fields: object) -> str | None:
        device = Device(id="d", first_seen=NOW, last_seen=NOW, **fields)
        found = PROFILES.for_device(device)
        return found.family if found else None

    assert profile_of(family="zigbee2mqtt", manufacturer="Aqara", model="ZNCLDJ11LM") == "zigbee_aqara"
    assert profile_of(family="zigbee2mqtt", manufacturer="IKEA") == "zigbee_ikea"
    assert profile_of(family="zigbee2mqtt", manufacturer="Unknown") == "zigbee2mqtt"
    assert profile_of(family="tasmota") == "tasmota"
    assert profile_of(family="printer") is None


def test_firmware_ranges() -> None:
    assert in_range("13.2.0", ">=13.0,<13.3") and not in_range("13.3.0", ">=13.0,<13.3")
    assert in_range("1.4.3", "<1.4.4") and not in_range(None, "<1.4.4") and in_range(None, "")
