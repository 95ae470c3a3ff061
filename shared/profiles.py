"""Firmware profiles: per device family, what is normal and which firmware versions have known issues.

One YAML file per family under ``firmware_profiles/`` (or the configured directory), validated by the
pydantic models below (JSON Schema: docs/schemas/firmware-profile.schema.json). Every fact carries a
``source`` (where it is documented) or says it is our own observation. See docs/firmware-profiles.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .models import Device

from .errors import HomediagError

PROFILE_DIR = Path(__file__).resolve().parent.parent / "firmware_profiles"


class ProfileError(HomediagError):
    code = "profile_invalid"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(_Strict):
    source: str | None = Field(default=None, description="where this is documented (URL or document and section)")
    own_observation: bool = Field(default=False, description="true when we observed it ourselves and no source documents it")

    @model_validator(mode="after")
    def _has_provenance(self) -> Sourced:
        if not self.source and not self.own_observation:
            raise ValueError("a fact needs a source or own_observation: true")
        return self


class Recognition(_Strict):
    families: list[str] = Field(default_factory=list, description="inventory families, e.g. tasmota, zigbee2mqtt")
    manufacturers: list[str] = Field(default_factory=list, description="case-insensitive manufacturer names")
    models: list[str] = Field(default_factory=list, description="regular expressions over the model")


class Normal(Sourced):
    reconnect_after_router_reboot_s: float = Field(description="how long after the network returns the device is back")
    availability_timeout_s: float | None = Field(default=None, description="when the family declares a silent device offline")
    report_interval_s: float | None = None


class Pattern(_Strict):
    log: str | None = Field(default=None, description="regex over the device's log lines and last messages")
    restart_reason: str | None = Field(default=None, description="regex over the reported restart reason")
    min_restarts: int | None = Field(default=None, description="at least this many restarts in the window")

    @field_validator("log", "restart_reason")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value


class Advice(_Strict):
    en: str
    zh: str


class KnownIssue(Sourced):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    firmware: str = Field(description="version range, e.g. '>=13.0,<13.3' (empty = every version)")
    pattern: Pattern
    advice: Advice
    sample: str = Field(description="evidence the pattern matches: a log line or restart reason, as seen")


class FirmwareProfile(_Strict):
    family: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    recognise: Recognition
    normal: Normal
    known_issues: list[KnownIssue] = Field(default_factory=list)
    advice: Advice = Field(description="general advice for this family, in plain language")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:4])


def in_range(version: str | None, spec: str) -> bool:
    """``'>=13.0,<13.3'``-style ranges over dotted numbers; an empty range matches every version."""
    if not spec.strip():
        return True
    if not version:
        return False
    have = _version(version)
    for clause in spec.split(","):
        match = re.fullmatch(r"\s*(>=|<=|==|>|<)\s*([\w.\-]+)\s*", clause)
        if not match:
            raise ProfileError(f"bad firmware range clause {clause!r}")
        op, want = match.group(1), _version(match.group(2))
        ok = {">=": have >= want, "<=": have <= want, "==": have == want, ">": have > want, "<": have < want}[op]
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class ProfileSet:
    profiles: tuple[FirmwareProfile, ...]

    def for_device(self, device: Device) -> FirmwareProfile | None:
        """The most specific profile that recognises the device (manufacturer/model profiles before family ones)."""
        return next((profile for profile in self.profiles if recognises(profile.recognise, device)), None)


def recognises(rule: Recognition, device: Device) -> bool:
    if rule.families and device.family not in rule.families:
        return False
    checks = []
    if rule.manufacturers:
        checks.append(bool(device.manufacturer) and device.manufacturer.lower() in {m.lower() for m in rule.manufacturers})
    if rule.models:
        checks.append(bool(device.model) and any(re.search(pattern, device.model) for pattern in rule.models))
    return any(checks) if checks else True


def load_profiles(directory: Path | None = None) -> ProfileSet:
    directory = directory or PROFILE_DIR
    profiles = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            profiles.append(FirmwareProfile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))))
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ProfileError(f"firmware profile {path.name} is invalid: {' '.join(str(exc).split())[:300]}") from exc
    # Specific profiles (with model patterns) before family-wide ones.
    profiles.sort(key=lambda p: (not (p.recognise.models or p.recognise.manufacturers), p.family))
    return ProfileSet(tuple(profiles))
