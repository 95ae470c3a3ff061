"""Home Assistant's ``value_template`` on availability payloads, rendered in a narrowed Jinja sandbox.

Its own module so that jinja2 is loaded only in homes whose devices' discovery configs carry templates.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MAX_RENDERED = 256  # an availability word, not a document
MAX_REPEAT = 1024  # the longest string or list a template may build by multiplication


class AvailabilitySandbox(SandboxedEnvironment):
    """Jinja's sandbox, narrowed to what availability templates do (pick a field, compare, map to a word): a template
    comes from a device's discovery config, so none may build huge strings or run loops. ``{% … %}`` statements
    are refused (``render_availability``), multiplication and powers are bounded, ``%`` formats no strings,
    strings and lists show no methods but a few harmless ones, and only plain filters exist."""

    intercepted_binops = frozenset({"*", "**", "%"})
    SAFE_METHODS = frozenset({"lower", "upper", "strip", "startswith", "endswith"})
    SAFE_FILTERS = (
        "lower",
        "upper",
        "trim",
        "default",
        "d",
        "string",
        "int",
        "float",
        "round",
        "abs",
        "length",
        "first",
        "last",
        "tojson",
    )

    def __init__(self) -> None:
        super().__init__(undefined=ChainableUndefined, autoescape=False)
        self.filters = {name: self.filters[name] for name in self.SAFE_FILTERS}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str | bytes | list | tuple | dict):
            return attr in self.SAFE_METHODS
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (left, right))
        if operator == "%" and not numbers:
            raise SecurityError("string formatting is not available")
        if operator == "**" and not (numbers and abs(right) <= 64 and abs(left) <= 1e6):
            raise SecurityError("power too large")
        if operator == "*" and not numbers:
            count = right if isinstance(left, str | list | tuple) else left
            if not isinstance(count, int) or count > MAX_REPEAT:
                raise SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)


_TEMPLATES = AvailabilitySandbox()


@lru_cache(maxsize=1024)
def _template(source: str) -> Template:
    return _TEMPLATES.from_string(source)


def render_availability(template: str, payload: str) -> str | None:
    """Home Assistant's ``value_template`` on an availability payload (``value``, ``value_json``), in the narrowed
    sandbox above; None when it does not render."""
    if "{%" in template or len(template) > 1024:
        return None
    try:
        value_json = json.loads(payload)
    except (ValueError, RecursionError):
        value_json = None
    try:
        rendered = _template(template).render(value=payload, value_json=value_json)
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError, RecursionError):
        return None
    return rendered.strip()[:MAX_RENDERED]
