"""Finishing a capture the agent was killed in the middle of: from the staged bundle's own manifest."""

from __future__ import annotations

import json
from pathlib import Path

from agent.capture import CaptureJournal, finish_interrupted_captures
from agent.outbox import Spool

from .conftest import MakeBundle


def _spool(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20, max_files=50, max_rejected=5)
    spool.recover()
    return spool


def test_a_staged_capture_not_yet_recorded_is_recorded_from_its_manifest_and_spooled(
    tmp_path: Path, make_bundle: MakeBundle
) -> None:
    spool, journal = _spool(tmp_path), CaptureJournal(tmp_path / "captures.jsonl")
    manifest, data = make_bundle(signature="broker_down")
    spool.stage(data, manifest)

    assert [m.bundle_id for m in finish_interrupted_captures(spool, journal)] == [manifest.bundle_id]
    assert [e.bundle_id for e in spool.entries()] == [str(manifest.bundle_id)] and spool.staged() == []
    assert journal.last_captures() == {"broker_down": manifest.window.end}
    assert journal.bundle_ids() == {str(manifest.bundle_id)}
    assert finish_interrupted_captures(spool, journal) == []  # a second start finds nothing to finish


def test_a_staged_capture_already_recorded_is_spooled_and_recorded_once(
    tmp_path: Path, make_bundle: MakeBundle
) -> None:
    spool, journal = _spool(tmp_path), CaptureJournal(tmp_path / "captures.jsonl")
    manifest, data = make_bundle(signature="broker_down")
    spool.stage(data, manifest)
    journal.append("broker_down", manifest.created_at, str(manifest.bundle_id))

    finish_interrupted_captures(spool, journal)
    assert len(spool.entries()) == 1
    assert len(journal.path.read_text().splitlines()) == 1


def test_the_journal_skips_a_line_cut_short_by_a_crash_and_writes_on_after_it(
    tmp_path: Path, make_bundle: MakeBundle
) -> None:
    journal = CaptureJournal(tmp_path / "captures.jsonl")
    manifest, _ = make_bundle(signature="router_reboot")
    journal.append("router_reboot", manifest.window.end, str(manifest.bundle_id))
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"signature": "broker_down", "at": "2026-12-04T03:00:00+00:00"})[:30])
    assert journal.last_captures() == {"router_reboot": manifest.window.end}
    journal.append("broker_down", manifest.window.end, "after-the-cut")
    assert journal.last_captures() == {"router_reboot": manifest.window.end, "broker_down": manifest.window.end}
