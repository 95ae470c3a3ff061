"""Fault injection for the exactly-once tests: the process dies on the spot at a named step of a capture.

``AGENT_TEST_CRASH_AT=<step>`` in the environment makes ``crash_point(step)`` end the process with
``os._exit`` (no cleanup, no flush, like a power cut or SIGKILL) when that step is reached. Unset, it does
nothing. The tests name each step in turn and check that a restarted agent still delivers one bundle per fault.
"""

from __future__ import annotations

import os
from enum import StrEnum

CRASH_ENV = "AGENT_TEST_CRASH_AT"
CRASH_EXIT_CODE = 86


class CaptureStep(StrEnum):
    """The steps from a closed fault to a delivered bundle, in order."""

    BUILT = "built"  # the bundle exists in memory only
    STAGED = "staged"  # the bundle is on disk beside the spool, not yet recorded
    RECORDED = "recorded"  # captures.jsonl names it, it is not yet in the spool
    SPOOLED = "spooled"  # it is in the spool, the uploader may take it
    DELIVERED = "delivered"  # the collector acknowledged it, it is still in the spool


def crash_point(step: CaptureStep) -> None:
    if os.environ.get(CRASH_ENV) == step.value:
        os._exit(CRASH_EXIT_CODE)
