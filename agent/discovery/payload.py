"""Decoding helpers every MQTT parser uses: payloads are untrusted bytes."""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import AgentError


class MalformedPayload(AgentError):
    """A message that does not have the shape its topic promises; counted per source, never fatal."""

    code = "malformed_payload"


def text(payload: bytes, limit: int = 64 * 1024) -> str:
    if len(payload) > limit:
        raise MalformedPayload(f"payload of {len(payload)} bytes is over {limit}")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload("payload is not UTF-8") from exc


def json_object(payload: bytes) -> dict[str, Any]:
    value = json_value(payload)
    if not isinstance(value, dict):
        raise MalformedPayload("payload is not a JSON object")
    return value


def json_value(payload: bytes) -> Any:
    try:
        return json.loads(text(payload))
    except ValueError as exc:
        raise MalformedPayload(f"payload is not JSON: {exc}") from exc


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def as_float(value: Any) -> float | None:
    """A finite number, or None (ESPHome publishes ``nan`` for a sensor without a reading)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    number = as_float(value)
    return None if number is None else int(number)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def availability(payload: bytes, online: str = "online", offline: str = "offline") -> bool | None:
    """``online``/``offline``-style payloads (case-insensitive); anything else says nothing."""
    word = text(payload, 256).strip().lower()
    if word == online.lower():
        return True
    if word == offline.lower():
        return False
    return None
