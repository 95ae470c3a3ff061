"""Firmware profiles: per device family, what is normal and which firmware versions have known issues.

One YAML file per family under ``firmware_profiles/`` (or the configured directory), validated by the
pydantic models below (JSON Schema: docs/schemas/firmware-profile.schema.json). Every fact carries a
``source`` (where it is documented) or says it is our own observation. See docs/firmware-profiles.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import HomediagError
from .models import Device

PROFILE_DIR = Path(__file__).resolve().parent.parent / "firmware_profiles"


class ProfileError(HomediagError):
    code = "profile_invalid"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(_Strict):
    source: str | None = Field(default=None, description="where this is documented (URL or document and section)")
    own_observation: bool = Field(
        default=False, description="true when we observed it ourselves and no source documents it"
    )

    @model_validator(mode="after")
    def _has_provenance(self) -> Sourced:
        if not self.source and not self.own_observation:
            raise ValueError("a fact needs a source or own_observation: true")
        return self


def _regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression ({exc})") from exc


class Recognition(_Strict):
    families: list[str] = Field(default_factory=list, description="inventory families, e.g. tasmota, zigbee2mqtt")
    manufacturers: list[str] = Field(default_factory=list, description="case-insensitive manufacturer names")
    models: list[str] = Field(default_factory=list, description="regular expressions over the model")

    @field_validator("models")
    @classmethod
    def _compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _regex(pattern)
        return patterns


class DeviceClass(StrEnum):
    """How a device is powered and, for Zigbee, which role it plays in the mesh."""

    MAINS = "mains"
    BATTERY = "battery"
    ROUTER = "router"
    END_DEVICE = "end_device"


class Timing(_Strict):
    reconnect_after_router_reboot_s: float = Field(description="how long after the network returns the device is back")
    availability_timeout_s: float | None = Field(
        default=None, description="when the family declares a silent device offline"
    )
    report_interval_s: float | None = Field(default=None, description="how often a healthy device reports on its own")


class ClassTiming(Timing, Sourced):
    """What is normal for one device class of the family (overrides the family's figures)."""


class Normal(Timing, Sourced):
    by_class: dict[DeviceClass, ClassTiming] = Field(
        default_factory=dict,
        description="per device class (mains/battery, Zigbee router/end device), each with its source",
    )


class Pattern(_Strict):
    log: str | None = Field(default=None, description="regex over the device's log lines and last messages")
    restart_reason: str | None = Field(default=None, description="regex over the reported restart reason")
    min_restarts: int | None = Field(default=None, description="at least this many restarts in the window")
    device_class: DeviceClass | None = Field(
        default=None, description="only devices of this class (e.g. battery remotes)"
    )

    @field_validator("log", "restart_reason")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            _regex(value)
        return value

    @model_validator(mode="after")
    def _says_something(self) -> Pattern:
        if self.log is None and self.restart_reason is None and self.min_restarts is None:
            raise ValueError("a pattern needs log, restart_reason or min_restarts")
        return self


class Advice(_Strict):
    en: str
    zh: str


class Sample(_Strict):
    """Evidence as a device shows it; the tests run it through the diagnosis and expect exactly this issue."""

    firmware: str | None = Field(
        default=None, description="the firmware the device reports (must lie in the issue's range)"
    )
    log: list[str] = Field(default_factory=list, description="log lines or last messages, as seen")
    restart_reason: str | None = None
    restarts: int = Field(default=0, ge=0, description="restarts in the window")
    device_class: DeviceClass | None = None


class KnownIssue(Sourced):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    title_zh: str = Field(description="the title in Simplified Chinese, for the customer's page")
    firmware: str = Field(description="version range, e.g. '>=13.0,<13.3' (empty = every version)")
    fixed_in: str | None = Field(default=None, description="the first firmware version without the issue")
    pattern: Pattern
    advice: Advice
    sample: Sample

    @property
    def reference(self) -> str | None:
        """The first public address in ``source`` (what a finding shows), else the source as written."""
        found = re.search(r"https://\S+", self.source or "")
        return found.group(0).rstrip(";,)") if found else self.source

    @field_validator("firmware")
    @classmethod
    def _valid_range(cls, value: str) -> str:
        firmware_range(value)
        return value

    @field_validator("fixed_in")
    @classmethod
    def _valid_version(cls, value: str | None) -> str | None:
        if value is not None and version_of(value) is None:
            raise ValueError(f"{value!r} is not a firmware version")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> KnownIssue:
        if self.fixed_in is not None and in_range(self.fixed_in, self.firmware):
            raise ValueError(f"fixed_in {self.fixed_in} lies inside the affected range {self.firmware!r}")
        if self.firmware.strip() and not in_range(self.sample.firmware, self.firmware):
            raise ValueError(f"the sample's firmware {self.sample.firmware!r} lies outside the range {self.firmware!r}")
        return self


class FirmwareProfile(_Strict):
    family: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    recognise: Recognition
    normal: Normal
    known_issues: list[KnownIssue] = Field(default_factory=list)
    advice: Advice = Field(description="general advice for this family, in plain language")

    @model_validator(mode="after")
    def _unique_ids(self) -> FirmwareProfile:
        ids = [issue.id for issue in self.known_issues]
        if len(ids) != len(set(ids)):
            raise ValueError(f"known issue ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        return self


# Firmware versions as devices report them: Tasmota "12.1.1(release-tasmota)", Shelly Gen1
# "20230913-112003/v1.14.0-gcb84623", Shelly Gen2 "1.4.4-g6d2a586", ESPHome "2024.6.1 (Jun 19 2024, 10:01:02)",
# Zigbee build strings such as "6.7.9.0 build 405" and date codes "20190608".
_BUILD_DATE_PREFIX = re.compile(r"^\d{8}-\d{6}/")
_GIT_SUFFIX = re.compile(r"-g[0-9a-f]{6,}$")
# Inside a longer build string only a dotted number is taken as the version (Gen1 "…/1047-long-id…" names none).
_LEADING_VERSION = re.compile(r"\d+(?:\.\d+)+(?:[-_.]?(?:a|b|rc|alpha|beta|dev|post)\d*)?", re.IGNORECASE)


def version_of(text: str | None) -> Version | None:
    """A device's reported firmware as a comparable version, or None when it names no version."""
    if not text:
        return None
    cleaned = _BUILD_DATE_PREFIX.sub("", text.strip())
    cleaned = re.sub(r"\s*\(.*$", "", cleaned)  # Tasmota's "(release-tasmota)", ESPHome's "(build date)"
    cleaned = _GIT_SUFFIX.sub("", cleaned).lstrip("vV")
    if cleaned.lower().startswith("0x"):  # a raw OTA file version says nothing comparable
        return None
    try:
        return Version(cleaned)
    except InvalidVersion:
        match = _LEADING_VERSION.search(cleaned)
        if match is None:
            return None
        try:
            return Version(match.group(0).replace("_", "."))
        except InvalidVersion:
            return None


def firmware_range(spec: str) -> SpecifierSet:
    """A PEP 440 specifier set (``'>=13.0,<13.3'``); prereleases inside the range count as affected."""
    try:
        return SpecifierSet(spec, prereleases=True)
    except InvalidSpecifier as exc:
        raise ValueError(f"bad firmware range {spec!r} (write e.g. '>=13.0,<13.3')") from exc


def in_range(version: str | None, spec: str) -> bool:
    """Whether a reported firmware lies in the range; an empty range matches every version, even an unknown one."""
    if not spec.strip():
        return True
    parsed = version_of(version)
    return parsed is not None and firmware_range(spec).contains(parsed)


_KNOWN_ISSUE_IN_TITLE = re.compile(r"\(([a-z0-9][a-z0-9-]*)\)$")


def known_issue_title(device_name: str, issue: KnownIssue) -> str:
    """A known-issue finding's title; it ends in the issue id so the fleet view can count households per issue."""
    return f"{device_name}: {issue.title} ({issue.id})"


def known_issue_of(title: str) -> str | None:
    """The known issue id a finding's title names, if any (the inverse of ``known_issue_title``)."""
    match = _KNOWN_ISSUE_IN_TITLE.search(title)
    return match.group(1) if match else None


@dataclass(frozen=True)
class ProfileSet:
    profiles: tuple[FirmwareProfile, ...]

    def known_issue(self, issue_id: str) -> KnownIssue | None:
        return next((i for p in self.profiles for i in p.known_issues if i.id == issue_id), None)

    def for_device(self, device: Device) -> FirmwareProfile | None:
        """The most specific profile that recognises the device (manufacturer/model profiles before family ones)."""
        return next((profile for profile in self.profiles if recognises(profile.recognise, device)), None)

    def normal_for(self, device: Device) -> Timing | None:
        """What is normal for this device: its class's figures when the profile has them, else the family's."""
        profile = self.for_device(device)
        if profile is None:
            return None
        for device_class in device_classes(device):
            if device_class in profile.normal.by_class:
                return profile.normal.by_class[device_class]
        return profile.normal


def device_classes(device: Device) -> list[DeviceClass]:
    """The device's classes, most telling first: its Zigbee role, then its power source (as Zigbee2MQTT reports them)."""
    classes = []
    role = str(device.attributes.get("type") or "")
    if role == "Router":
        classes.append(DeviceClass.ROUTER)
    elif role == "EndDevice":
        classes.append(DeviceClass.END_DEVICE)
    power = str(device.attributes.get("power_source") or "").lower()
    if power == "battery":
        classes.append(DeviceClass.BATTERY)
    elif power.startswith(("mains", "dc source")):
        classes.append(DeviceClass.MAINS)
    return classes


def recognises(rule: Recognition, device: Device) -> bool:
    if rule.families and device.family not in rule.families:
        return False
    checks = []
    if rule.manufacturers:
        manufacturer = device.manufacturer
        checks.append(manufacturer.lower() in {m.lower() for m in rule.manufacturers} if manufacturer else False)
    if rule.models:
        model = device.model
        checks.append(any(re.search(pattern, model) for pattern in rule.models) if model else False)
    return any(checks) if checks else True


def load_profile(path: Path) -> FirmwareProfile:
    """One profile file; a mistake is reported with the file, the line and the field it is in."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise ProfileError(f"firmware profile {path}: cannot be read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ProfileError(f"firmware profile {path}: not UTF-8 text") from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ProfileError(f"firmware profile {path}:{line}: not valid YAML ({exc.problem})") from exc
    try:
        return FirmwareProfile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ProfileError(f"firmware profile {path}:{_line_of(root, first['loc'])}: {where}: {message}") from exc


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The line of the deepest YAML node along a validation error's location."""
    if node is None:
        return 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        else:
            child = None
        if child is None:
            break
        node = child
    return node.start_mark.line + 1


def load_profiles(directory: Path | None = None) -> ProfileSet:
    directory = directory or PROFILE_DIR
    profiles = [load_profile(path) for path in sorted(directory.glob("*.yaml"))]
    # Specific profiles (with model patterns) before family-wide ones.
    profiles.sort(key=lambda p: (not (p.recognise.models or p.recognise.manufacturers), p.family))
    return ProfileSet(tuple(profiles))
