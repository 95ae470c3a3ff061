"""Loading a pydantic settings model from a YAML file with environment overrides (agent and collector alike).

``<PREFIX><FIELD>__<SUB>=value`` overrides ``field.sub``; values are parsed as YAML scalars or lists. Only
names whose first part is a field of the model count, so unrelated variables sharing the prefix (the lab's
``HOMEDIAG_CLOCK_OFFSET_FILE``, say) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


def env_overrides(environ: Mapping[str, str], prefix: str, model: type[BaseModel]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(prefix):
            continue
        path = name[len(prefix) :].lower().split("__")
        if path[0] not in model.model_fields:
            continue
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw else None
    return tree


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml_mapping(path: Path, error: type[Exception]) -> dict[str, Any]:
    """The file's mapping (empty file → ``{}``); anything unreadable raises ``error`` with one readable line."""
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read configuration {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise error(f"configuration {path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise error(f"configuration {path} must be a mapping")
    return loaded or {}


def validate_settings(model: type[ModelT], data: Mapping[str, Any], error: type[Exception]) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise error(f"configuration error at {where}: {first['msg']}") from exc
