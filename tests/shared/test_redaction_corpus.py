"""The planted-secret corpus: 0 leaks, counts that match, and a redacted bundle that still reads and diagnoses the same."""

from __future__ import annotations

import json
import os
import random

from agent.diagnosis import diagnose, fault_focus
from shared.bundle import build_bundle, read_bundle
from shared.models import CaptureWindow, DiagnosisReport, Inventory, TimelineEvent
from shared.profiles import load_profiles
from shared.redact import Redactor, redact_files
from shared.signing import generate_private_key

from .redaction_corpus import NOW, make_corpus

SEEDS = 3


def _seeds() -> list[int]:
    base = int(os.environ.get("REDACTION_SEED", random.randrange(2**32)))
    print(f"redaction corpus seed: REDACTION_SEED={base}")
    return [base + offset for offset in range(SEEDS)]


def test_planted_corpus_has_no_leaks_and_exact_counts() -> None:
    for seed in _seeds():
        corpus = make_corpus(seed)
        redactor = Redactor(b"household-pseudonym-key")
        redacted = redact_files(corpus.files, redactor)
        trigger = redactor.redact_trigger(corpus.trigger)
        texts = [
            *(data.decode() for data in redacted.values()),
            *redacted,
            trigger.signature or "",
            trigger.summary or "",
        ]
        assert corpus.leaks(texts) == [], f"seed {seed}"
        replaced, removed = corpus.expected_counts()
        summary = redactor.summary()
        planted = sum(replaced.values()) + sum(removed.values())
        assert planted >= 200, planted
        assert (summary.replaced, summary.removed) == (dict(replaced), dict(removed)), f"seed {seed}"
        # every file kind carried plants
        kinds = {"inventory.json", "timeline.jsonl", "diagnosis.json", "host.json", "network.json"}
        for name, data in corpus.files.items():
            if name in kinds or name.startswith("logs/"):
                assert corpus.leaks([data.decode()]), f"{name} carried no plant"


def test_redacted_bundle_validates_and_diagnoses_the_same() -> None:
    corpus = make_corpus(_seeds()[0])
    redactor = Redactor(b"household-pseudonym-key")
    redacted = redact_files(corpus.files, redactor)
    trigger = redactor.redact_trigger(corpus.trigger)
    key = generate_private_key()
    _, data = build_bundle(
        files=redacted,
        agent_id="a",
        household="h",
        trigger=trigger,
        window=CaptureWindow(start=NOW, end=NOW),
        redaction=redactor.summary(),
        private_key=key,
    )
    bundle = read_bundle(data, key.public_key())
    inventory = Inventory.model_validate_json(bundle.files["inventory.json"])
    timeline = [TimelineEvent.model_validate_json(line) for line in bundle.files["timeline.jsonl"].splitlines()]
    report = DiagnosisReport.model_validate_json(bundle.files["diagnosis.json"])
    ids = [device.id for device in inventory.devices]
    # one pseudonymised id per device, the same in every place that names it
    assert len(set(ids)) == len(corpus.device_ids) and not set(ids) & set(corpus.device_ids)
    assert {e.device_id for e in timeline if e.device_id} <= set(ids)
    assert len({d.parent_id for d in inventory.devices if d.parent_id}) == 1  # one coordinator, one pseudonym
    assert {device for finding in report.findings for device in finding.devices} <= set(ids)
    assert trigger.signature == f"device_offline:{ids[0]}"
    rename = dict(zip(corpus.device_ids, ids, strict=True))
    original = json.loads(corpus.files["diagnosis.json"])
    again = diagnose(timeline, inventory, {}, load_profiles(), NOW, focus=fault_focus(timeline, trigger.signature))
    assert again.verdict == report.verdict == original["verdict"]
    assert [(f.root_cause.value, f.devices) for f in again.findings] == [
        (f["root_cause"], [rename[d] for d in f["devices"]]) for f in original["findings"]
    ]
