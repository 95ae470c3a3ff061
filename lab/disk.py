"""A small, real filesystem (tmpfs) that the lab and the tests can fill to the last byte without touching the
machine's own disk: mount it, fill it, unmount everything under a directory. Needs root, like the lab."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path


def mount_small_disk(path: Path, size_mb: int, label: str) -> Path:
    """A ``size_mb`` tmpfs at ``path`` (created if missing), readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", label, str(path)], check=True, capture_output=True
    )
    return path


def fill_filesystem(filler: Path) -> int:
    """Grow ``filler`` until its filesystem has no byte left; its size."""
    with open(filler, "ab", buffering=0) as handle:
        while True:
            try:
                handle.write(b"\0" * 4096)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return filler.stat().st_size


def unmount_under(directory: Path) -> None:
    """Unmount every filesystem mounted at or below ``directory``."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(directory)
    for line in mounts:
        point = line.split()[1].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)
