"""Assemble a signed bundle from what the agent knows now.

``create_bundle`` is the one entry point for every producer (the ``bundle create`` command, the flight
recorder's fault capture, the self-diagnosis): it gathers ``host.json`` and ``network.json``, adds the files
the caller passes (``timeline.jsonl``, ``inventory.json``, ``diagnosis.json``, ``logs/…``), redacts all of it
with the household's pseudonym key, and only then signs. Blocking (psutil, file reads, signing): call it from a
thread inside an event loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shared.bundle import build_bundle
from shared.models import BundleManifest, CaptureWindow, RedactionSummary, Trigger
from shared.redact import Redactor, redact_files

from .config import AgentConfig
from .errors import AgentError
from .facts import host_facts, network_facts
from .identity import Identity

GATHERED_FILES = ("host.json", "network.json")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode()


def gather_files(config: AgentConfig) -> dict[str, bytes]:
    """The facts every bundle carries."""
    return {
        "host.json": _json_bytes(host_facts(config.state_dir)),
        "network.json": _json_bytes(network_facts()),
    }


def create_bundle(
    config: AgentConfig,
    identity: Identity,
    *,
    trigger: Trigger,
    window: CaptureWindow,
    extra_files: Mapping[str, bytes] = {},  # a shared default is safe: never mutated
) -> tuple[BundleManifest, bytes]:
    """Gather, redact, sign. Returns the manifest and the ``.tar.gz`` bytes. Needs an enrolled identity."""
    enrollment = identity.require_enrollment()
    clashing = sorted(set(extra_files) & set(GATHERED_FILES))
    if clashing:
        raise AgentError(f"extra_files may not replace the gathered {', '.join(clashing)}")
    files = {**gather_files(config), **extra_files}
    if config.redaction.enabled:
        redactor = Redactor(
            enrollment.pseudonym_key_bytes,
            extra_secret_keys=tuple(config.redaction.extra_secret_keys),
            keep_private_ips=config.redaction.keep_private_ips,
        )
        files = redact_files(files, redactor)
        trigger = redactor.redact_trigger(trigger)  # a fault signature names the device by its id
        summary = redactor.summary()
    else:
        summary = RedactionSummary()
    return build_bundle(
        files=files,
        agent_id=enrollment.agent_id,
        household=enrollment.household,
        trigger=trigger,
        window=window,
        redaction=summary,
        private_key=identity.private_key,
    )
