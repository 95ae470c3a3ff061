"""The wall clock as the collector's parts receive it: a function, so that tests can travel through days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], datetime]
