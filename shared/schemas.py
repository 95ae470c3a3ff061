"""Generate the JSON Schemas in docs/schemas/ from the pydantic models.

``python -m shared.schemas`` rewrites the files; a test fails when they are stale.
To publish another model, add one entry to ``SCHEMAS``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from shared.models import BundleManifest, DiagnosisReport, Inventory, TimelineEvent
from shared.profiles import FirmwareProfile

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"

SCHEMAS: dict[str, type[BaseModel]] = {
    "inventory.schema.json": Inventory,
    "timeline-event.schema.json": TimelineEvent,
    "diagnosis-report.schema.json": DiagnosisReport,
    "bundle-manifest.schema.json": BundleManifest,
    "firmware-profile.schema.json": FirmwareProfile,
}


def render_schemas() -> dict[str, str]:
    """File name -> schema text (sorted keys, two-space indent, trailing newline)."""
    return {
        name: json.dumps(model.model_json_schema(), sort_keys=True, indent=2) + "\n" for name, model in SCHEMAS.items()
    }


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main() -> int:
    for path in write_schemas():
        print(path, file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
