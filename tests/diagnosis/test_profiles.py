"""Firmware profiles: valid and sourced; every known issue's sample, run through the diagnosis, names exactly that issue.

The samples are evidence as the upstream issue or changelog shows it (each issue's ``source`` names where);
the profile loader must refuse a wrong regex or version range with the file and line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.diagnosis.devices import device_findings
from shared.models import Device, EventKind, EventState, LogLine, RootCause, TimelineEvent
from shared.profiles import (
    PROFILE_DIR,
    DeviceClass,
    FirmwareProfile,
    KnownIssue,
    ProfileError,
    in_range,
    known_issue_of,
    known_issue_title,
    load_profile,
    load_profiles,
    version_of,
)

PROFILES = load_profiles()
NOW = datetime(2026, 11, 24, tzinfo=UTC)
REQUIRED = {
    "zigbee2mqtt",
    "zigbee_aqara",
    "zigbee_ikea",
    "zigbee_hue",
    "tasmota",
    "shelly_gen1",
    "shelly_gen2",
    "esphome",
    "hue_bridge",
    "google_cast",
    "homekit",
    "sonos",
}
SOURCED_AT_LEAST = 60
ISSUES = [(profile, issue) for profile in PROFILES.profiles for issue in profile.known_issues]
_CLASS_ATTRIBUTES = {
    DeviceClass.ROUTER: {"type": "Router", "power_source": "Mains (single phase)"},
    DeviceClass.END_DEVICE: {"type": "EndDevice", "power_source": "Battery"},
    DeviceClass.BATTERY: {"power_source": "Battery"},
    DeviceClass.MAINS: {"power_source": "Mains (single phase)"},
}


def _device_for(profile: FirmwareProfile, issue: KnownIssue) -> Device:
    """A device the profile (and no more specific one) recognises, as the sample describes it."""
    rule = profile.recognise
    return Device(
        id="dev1",
        name="device under test",
        first_seen=NOW,
        last_seen=NOW,
        family=rule.families[0] if rule.families else profile.family,
        manufacturer=rule.manufacturers[0] if rule.manufacturers else None,
        firmware=issue.sample.firmware,
        restart_reason=issue.sample.restart_reason,
        attributes=_CLASS_ATTRIBUTES.get(issue.sample.device_class, {}) if issue.sample.device_class else {},
    )


def _diagnose_sample(profile: FirmwareProfile, issue: KnownIssue, firmware: str | None = None) -> list:
    device = _device_for(profile, issue)
    if firmware is not None:
        device = device.model_copy(update={"firmware": firmware})
    logs = [
        LogLine(ts=NOW - timedelta(minutes=5), source=profile.family, device_id=device.id, message=line)
        for line in issue.sample.log
    ]
    reboots = [
        TimelineEvent(
            ts=NOW - timedelta(minutes=3 * (i + 1)),
            kind=EventKind.DEVICE_REBOOT,
            state=EventState.REBOOTED,
            source=profile.family,
            device_id=device.id,
            detail={"reason": issue.sample.restart_reason} if issue.sample.restart_reason else {},
        )
        for i in range(issue.sample.restarts)
    ]
    return [
        f
        for f in device_findings(reboots, {device.id: device}, logs, PROFILES)
        if f.root_cause is RootCause.FIRMWARE_KNOWN_ISSUE
    ]


def test_every_required_family_has_a_profile_and_the_schema_is_published() -> None:
    assert {p.family for p in PROFILES.profiles} >= REQUIRED
    schema = json.loads((Path(__file__).parents[2] / "docs" / "schemas" / "firmware-profile.schema.json").read_text())
    assert schema == FirmwareProfile.model_json_schema()


@pytest.mark.parametrize(("profile", "issue"), ISSUES, ids=[f"{p.family}:{i.id}" for p, i in ISSUES])
def test_each_sample_names_exactly_its_known_issue(profile: FirmwareProfile, issue: KnownIssue) -> None:
    findings = _diagnose_sample(profile, issue)
    assert [known_issue_of(f.title) for f in findings] == [issue.id]
    finding = findings[0]
    assert issue.title_zh in finding.translations["zh"].symptom
    if issue.reference:
        assert issue.reference in finding.explanation.symptom and issue.reference in finding.translations["zh"].symptom
    if issue.fixed_in:
        assert issue.fixed_in in finding.explanation.solution and issue.fixed_in in finding.translations["zh"].solution
        # The fixed firmware no longer shows the issue.
        assert issue.id not in [f.title for f in _diagnose_sample(profile, issue, firmware=issue.fixed_in)]


def test_a_class_bound_issue_is_not_named_for_another_class() -> None:
    """IKEA's low-battery disconnect bug is about remotes: the same log line from a mains bulb does not name it."""
    profile = next(p for p in PROFILES.profiles if p.family == "zigbee_ikea")
    issue = next(i for i in profile.known_issues if i.id == "ikea-remote-low-battery-disconnect")
    bulb = issue.model_copy(update={"sample": issue.sample.model_copy(update={"device_class": DeviceClass.MAINS})})
    assert _diagnose_sample(profile, bulb) == []


def test_the_knowledge_base_is_sourced_from_the_field() -> None:
    """A ratchet on the publicly documented known issues (with a URL): the count only grows."""
    sourced = {
        p.family: [i for i in p.known_issues if i.source and i.source.startswith("https://")] for p in PROFILES.profiles
    }
    assert sum(len(issues) for issues in sourced.values()) >= SOURCED_AT_LEAST, {f: len(i) for f, i in sourced.items()}
    for profile in PROFILES.profiles:
        for issue in profile.known_issues:
            assert issue.source or issue.own_observation, issue.id


def test_known_issue_ids_are_unique_and_read_back_from_finding_titles() -> None:
    """The fleet view counts households per known issue from the finding titles."""
    ids = [issue.id for _, issue in ISSUES]
    assert len(ids) == len(set(ids))
    for _, issue in ISSUES:
        assert known_issue_of(known_issue_title("Kitchen plug (left)", issue)) == issue.id
        assert PROFILES.known_issue(issue.id) == issue
    assert known_issue_of("plug restarted") is None


def test_recognition_prefers_the_specific_profile() -> None:
    def profile_of(**fields: Any) -> str | None:
        device = Device(id="d", first_seen=NOW, last_seen=NOW, **fields)
        found = PROFILES.for_device(device)
        return found.family if found else None

    assert profile_of(family="zigbee2mqtt", manufacturer="Aqara", model="ZNCLDJ11LM") == "zigbee_aqara"
    assert profile_of(family="zigbee2mqtt", manufacturer="IKEA") == "zigbee_ikea"
    assert profile_of(family="zigbee2mqtt", manufacturer="Unknown") == "zigbee2mqtt"
    assert profile_of(family="tasmota") == "tasmota"
    assert profile_of(family="printer") is None


def test_normal_behaviour_depends_on_the_device_class() -> None:
    """Zigbee2MQTT's availability: mains (active) devices 10 min, battery (passive) devices 25 h."""

    def timing(**attributes: str):  # type: ignore[no-untyped-def]
        return PROFILES.normal_for(
            Device(id="d", first_seen=NOW, last_seen=NOW, family="zigbee2mqtt", attributes=attributes)
        )

    assert timing(type="Router", power_source="Mains (single phase)").availability_timeout_s == 600
    assert timing(type="EndDevice", power_source="Battery").availability_timeout_s == 25 * 3600
    assert timing().availability_timeout_s == 600
    for profile in PROFILES.profiles:
        for figures in profile.normal.by_class.values():
            assert figures.source or figures.own_observation


@pytest.mark.parametrize(
    ("reported", "spec", "inside"),
    [
        ("13.2.0", ">=13.0,<13.3", True),
        ("13.3.0", ">=13.0,<13.3", False),
        ("12.1.1(release-tasmota)", "<12.2", True),
        ("9.5.0(tasmota)", ">=9.5.0.3,<10.0.0", False),
        ("2024.6.1", ">=2024.6.0,<2024.6.2", True),
        ("2024.6.2", ">=2024.6.0,<2024.6.2", False),
        ("2024.6.0b3", ">=2024.6.0b1,<2024.6.1", True),
        ("20230913-112003/v1.14.0-gcb84623", "<1.14.1", True),
        ("1.4.4-g6d2a586", "<1.4.4", False),
        ("20190608", "<20211217", True),
        ("6.7.9.0 build 405", "<6.10", True),
        ("2.3.075", "<2.3.087", True),
        ("20191217-140757/1047-long-id-for-shelly-devices@a0661583", "<1.9.0", False),
        ("1.29.0_r21169", "<1.50", True),
        (None, "<1.4.4", False),
        (None, "", True),
        ("whatever", "", True),
        ("0x01020304", "<2", False),
    ],
)
def test_firmware_ranges_compare_the_formats_devices_report(reported: str | None, spec: str, inside: bool) -> None:
    assert in_range(reported, spec) is inside


@given(st.text(max_size=40))
def test_any_reported_firmware_is_parsed_or_refused_never_raises(text: str) -> None:
    version_of(text)
    in_range(text, ">=1.0,<2")


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        ('    pattern: {log: "Failed (to"}', "not a valid regular expression"),
        ('    firmware: "=<13.0"', "bad firmware range"),
        ('    firmware: "<2.3.079"\n    fixed_in: "soon"', "not a firmware version"),
    ],
)
def test_a_wrong_regex_or_range_is_refused_with_file_and_line(tmp_path: Path, broken: str, says: str) -> None:
    text = (PROFILE_DIR / "zigbee2mqtt.yaml").read_text(encoding="utf-8").splitlines()
    issue_at = next(i for i, row in enumerate(text) if row.startswith("  - id:"))
    field = broken.split(":")[0].split("\n")[0]
    target = next(i for i in range(issue_at, len(text)) if text[i].startswith(field + ":"))
    text[target] = broken
    path = tmp_path / "zigbee2mqtt.yaml"
    path.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    assert f"zigbee2mqtt.yaml:{target + 1 + broken.count(chr(10))}:" in str(raised.value) and says in str(raised.value)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"family: x\nname: [unclosed\n", r"broken.yaml:\d+: not valid YAML"),
        (b"", r"broken.yaml:1: \(top level\)"),
        (b"- a list\n", r"broken.yaml:1: \(top level\)"),
        (b"family: \xff\xfe\n", r"broken.yaml: not UTF-8 text"),
    ],
)
def test_a_broken_file_is_refused_clearly(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(content)
    with pytest.raises(ProfileError, match=says):
        load_profile(path)
