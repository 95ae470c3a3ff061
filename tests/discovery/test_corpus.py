"""The corpus of real payloads (tests/discovery/corpus/, copied from upstream tests and docs): one test per source,
each replayed through its own real Mosquitto."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.discovery_corpus import corpus_files, replay
from lab.mosquitto import Mosquitto


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
async def test_every_device_of_the_source_is_understood(path: Path, mosquitto: Mosquitto, tmp_path: Path) -> None:
    result = await replay(path, mosquitto.host, mosquitto.port, tmp_path)
    assert result.failures == [] and result.understood == result.expected, "\n".join(result.failures)


def test_the_corpus_covers_every_family_and_at_least_60_devices() -> None:
    import json

    devices = [entry for path in corpus_files() for entry in json.loads(path.read_text())["devices"]]
    families = {entry["key"].split(":", 1)[0] for entry in devices}
    assert {"ieee", "tasmota", "shelly", "esphome", "ha"} <= families | {
        "tasmota" if any(e["expect"].get("family") == "tasmota" for e in devices) else ""
    }
    assert len(devices) >= 60, f"{len(devices)} devices"
