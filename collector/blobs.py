"""Bundle bytes on the filesystem, content-addressed by sha256: ``blobs/ab/abcdef….tar.gz``.

Writes go to a temporary file, are fsynced (configurable) and renamed into place, so a crash never leaves
a half blob under a real name; the same content written twice is one file. Blocking: call from a thread.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import CollectorError, NotFound


class BlobStoreError(CollectorError):
    status = 507
    code = "storage_failed"


class BlobStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise NotFound("no such blob", code="bundle_not_found")
        return self.root / sha256[:2] / f"{sha256}.tar.gz"

    def put(self, sha256: str, data: bytes) -> Path:
        target = self.path(sha256)
        if target.exists():
            return target
        target.parent.mkdir(exist_ok=True)
        try:
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    if self.fsync:
                        handle.flush()
                        os.fsync(handle.fileno())
                os.replace(temp, target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise BlobStoreError(f"cannot store the bundle: {exc.strerror}") from exc
        return target

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("the bundle's bytes are missing", code="bundle_not_found") from exc
