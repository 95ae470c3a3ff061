"""The files of a bundle that the collector and its UI read, parsed with the models that publish their schemas.

Ingest parses them once (in the worker) and refuses a bundle whose files do not match (422, ``file_invalid``,
naming the file and the reason); the UI parses them the same way and shows an error box for a bundle stored
before this check existed. The models are the source of ``docs/schemas/`` (``shared/schemas.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shared.bundle import TIMELINE_NAME
from shared.models import DiagnosisReport, Inventory, TimelineEvent

INVENTORY_NAME = "inventory.json"
DIAGNOSIS_NAME = "diagnosis.json"
M = TypeVar("M", bound=BaseModel)
REASON_CHARS = 160


class ContentInvalid(ValueError):
    """A parsed file does not match its schema; ``file`` names it, the message says where and why."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file


@dataclass(frozen=True)
class BundleContents:
    timeline: list[TimelineEvent]
    inventory: Inventory | None
    diagnosis: DiagnosisReport | None


def _reason(exc: ValidationError) -> str:
    """The first problem, short enough for an error message (the full pydantic text repeats the input)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "the document"
    message = first["msg"] if len(first["msg"]) <= REASON_CHARS else first["msg"][:REASON_CHARS] + "…"
    more = exc.error_count() - 1
    return f"{where}: {message}" + (f" (and {more} more problems)" if more > 0 else "")


def _parse(model: type[M], file: str, data: bytes) -> M:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise ContentInvalid(file, _reason(exc)) from None


def parse_contents(files: Mapping[str, bytes]) -> BundleContents:
    """Every file the collector reads, validated; raises ``ContentInvalid`` at the first that does not match."""
    timeline = []
    for number, line in enumerate(files.get(TIMELINE_NAME, b"").splitlines(), start=1):
        if line.strip():
            timeline.append(_parse(TimelineEvent, f"{TIMELINE_NAME} line {number}", line))
    inventory = _parse(Inventory, INVENTORY_NAME, files[INVENTORY_NAME]) if INVENTORY_NAME in files else None
    diagnosis = _parse(DiagnosisReport, DIAGNOSIS_NAME, files[DIAGNOSIS_NAME]) if DIAGNOSIS_NAME in files else None
    return BundleContents(timeline, inventory, diagnosis)
