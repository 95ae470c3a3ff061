"""Crash-safe file writes: a file is either complete or absent, never half-written.

The data goes to a temporary file in the same directory (``.tmp-*``, created with ``O_EXCL`` and the final
mode, so it is never readable by others even for a moment), is fsynced, then renamed (or hard-linked, when an
existing file must not be replaced) into place, and the directory is fsynced. Readers skip ``.tmp-*`` files;
owners delete them after a crash.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

TMP_PREFIX = ".tmp-"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600, replace: bool = True) -> None:
    """Write ``data`` to ``path``. With ``replace=False`` an existing file wins: ``FileExistsError``."""
    tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # link() never replaces an existing file
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
