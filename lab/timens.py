"""Run a command in a machine that booted a moment ago: ``python -m lab.timens COMMAND [ARG...]``.

A Linux time namespace (``CLONE_NEWTIME``) whose boot-time offset takes the uptime back to about a second, so
the kernel reports a boot just now (``/proc/stat`` btime, ``CLOCK_BOOTTIME``); wall time and the monotonic
clock are untouched. The command is exec'd in place (same pid: signals reach it directly). The lab uses it to
restart the hub's agent "after a reboot" without rebooting anything. Needs root and Linux ≥ 5.6.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

CLONE_NEWTIME = 0x80


def enter_fresh_boot() -> None:
    """The exec that follows runs in a new time namespace whose uptime starts at about one second."""
    uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWTIME) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare(CLONE_NEWTIME): {os.strerror(error)}")
    # CLOCK_BOOTTIME is 7; the offset may take the namespace's uptime down to zero, not below.
    Path("/proc/self/timens_offsets").write_text(f"7 {-int(uptime_s - 1)} 0\n")


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m lab.timens COMMAND [ARG...]")
    enter_fresh_boot()
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
