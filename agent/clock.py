"""The agent's notion of time.

Wall time is ``time.time()`` plus an optional offset read from the file named by ``HOMEDIAG_CLOCK_OFFSET_FILE``:
the network lab steps the hub's clock through it (a real hub's clock jumps by itself, after a power loss
without NTP). Monotonic time never jumps; the clock monitor compares the two.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

OFFSET_ENV = "HOMEDIAG_CLOCK_OFFSET_FILE"


class Clock:
    def __init__(self, offset_file: Path | None = None) -> None:
        if offset_file is None and os.environ.get(OFFSET_ENV):
            offset_file = Path(os.environ[OFFSET_ENV])
        self._offset_file = offset_file

    def _offset(self) -> float:
        if self._offset_file is None:
            return 0.0
        try:
            return float(self._offset_file.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    def time(self) -> float:
        return time.time() + self._offset()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()
