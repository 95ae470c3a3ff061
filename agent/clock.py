"""The agent's notion of time.

Wall time is ``time.time()`` plus an optional offset read from the file named by ``HOMEDIAG_CLOCK_OFFSET_FILE``:
the network lab steps the hub's clock through it (a real hub's clock jumps by itself, after a power loss
without NTP). The offset is re-read at most every ``REREAD_S`` (timestamps are taken often). Monotonic time
never jumps; the clock monitor compares the two.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

OFFSET_ENV = "HOMEDIAG_CLOCK_OFFSET_FILE"
REREAD_S = 0.2


class Clock:
    def __init__(self, offset_file: Path | None = None, *, reread_s: float = REREAD_S) -> None:
        if offset_file is None and os.environ.get(OFFSET_ENV):
            offset_file = Path(os.environ[OFFSET_ENV])
        self._offset_file = offset_file
        self._reread_s = reread_s
        self._cached = 0.0
        self._read_at = float("-inf")

    def _offset(self) -> float:
        if self._offset_file is None:
            return 0.0
        now = time.monotonic()
        if now - self._read_at >= self._reread_s:
            self._read_at = now
            try:
                self._cached = float(self._offset_file.read_text().strip() or 0)
            except (OSError, ValueError):
                self._cached = 0.0
        return self._cached

    def time(self) -> float:
        return time.time() + self._offset()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()
