import json
import uuid
from datetime import UTC, datetime

import jsonschema
import pytest
from pydantic import ValidationError

from shared.models import (
    STATES_OF_KIND,
    BundleManifest,
    CaptureWindow,
    Device,
    DiagnosisReport,
    EventKind,
    EventState,
    Explanation,
    Finding,
    Inventory,
    ManifestFile,
    Priority,
    RedactionSummary,
    RootCause,
    TimelineEvent,
    Trigger,
    TriggerKind,
)
from shared.schemas import SCHEMA_DIR, SCHEMAS, render_schemas

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
EVENT = TimelineEvent(
    ts=NOW, kind=EventKind.GATEWAY, state=EventState.DOWN, source="monitor.gateway", detail={"rtt": None}
)
INSTANCES = {
    "inventory.schema.json": Inventory(
        generated_at=NOW,
        devices=[Device(id="mac:02:00:00:00:00:01", first_seen=NOW, last_seen=NOW, macs=["02:00:00:00:00:01"])],
    ),
    "timeline-event.schema.json": EVENT,
    "diagnosis-report.schema.json": DiagnosisReport(
        generated_at=NOW,
        verdict=RootCause.ROUTER_REBOOT,
        priority=Priority.P3,
        findings=[
            Finding(
                root_cause=RootCause.ROUTER_REBOOT,
                confidence=0.9,
                title="Router rebooted",
                explanation=Explanation(symptom="s", root_cause="r", solution="o", risk="k"),
                evidence=[EVENT],
            )
        ],
        window=CaptureWindow(start=NOW, end=NOW),
    ),
    "bundle-manifest.schema.json": BundleManifest(
        bundle_id=uuid.uuid4(),
        agent_id="a",
        household="h",
        created_at=NOW,
        trigger=Trigger(kind=TriggerKind.FAULT),
        window=CaptureWindow(start=NOW, end=NOW),
        files=[ManifestFile(path="host.json", sha256="0" * 64, size=2)],
        redaction=RedactionSummary(replaced={"mac": 1}),
    ),
}


def test_schema_files_are_current():
    for name, text in render_schemas().items():
        path = SCHEMA_DIR / name
        assert path.exists() and path.read_text(encoding="utf-8") == text, (
            f"docs/schemas/{name} is stale: run `python -m shared.schemas`"
        )


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_real_instances_validate_against_the_generated_schema(name):
    schema = json.loads(render_schemas()[name])
    instance = json.loads(INSTANCES[name].model_dump_json())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(instance)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({**instance, "unexpected": 1})


def test_every_core_schema_has_a_test_instance():
    assert set(INSTANCES) <= set(SCHEMAS)


def _states_or_none(states: frozenset[EventState]) -> list[EventState | None]:
    return [*sorted(states)] or [None]


def _event_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(render_schemas()["timeline-event.schema.json"]))


@pytest.mark.parametrize(
    ("kind", "state"),
    [(kind, state) for kind, states in STATES_OF_KIND.items() for state in _states_or_none(states)],
)
def test_every_state_of_a_kind_is_valid_in_the_model_and_the_schema(kind: EventKind, state: EventState | None) -> None:
    instance = {**json.loads(EVENT.model_dump_json()), "kind": kind.value, "state": state}
    TimelineEvent.model_validate(instance)
    _event_validator().validate(instance)


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        (EventKind.DEVICE_REBOOT, "reboot"),  # the hub's word; a device has "rebooted"
        (EventKind.HUB_BOOT, "rebooted"),
        (EventKind.GATEWAY, "online"),
        (EventKind.GATEWAY, "bogus"),
        (EventKind.GATEWAY, None),
        (EventKind.AGENT_START, "up"),
    ],
)
def test_a_state_its_kind_does_not_have_fails_the_model_and_the_schema(kind: EventKind, state: str | None) -> None:
    instance = {**json.loads(EVENT.model_dump_json()), "kind": kind.value, "state": state}
    with pytest.raises(ValidationError):
        TimelineEvent.model_validate(instance)
    with pytest.raises(jsonschema.ValidationError):
        _event_validator().validate(instance)
