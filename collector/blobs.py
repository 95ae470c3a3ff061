"""Bundle bytes on the filesystem, content-addressed by sha256: ``blobs/ab/abcdef….tar.gz``.

An upload is first *staged* (written under ``.incoming/`` before anyone trusts it, so the verify workers read
it from the page cache instead of through a pipe), then, once verified, *adopted*: fsynced (configurable) and
renamed into place, so a crash never leaves a half blob under a real name; the same content written twice is
one file. A crash leaves at most staged files, which ``discard_staged`` removes at start. Blocking, ``stage``
too (creating a file waits for the journal while other blobs are fsynced): call from a thread.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import NotFound, StorageFailed

_GROUP_SYNC_THREADS = 16


class BlobStoreError(StorageFailed):
    """A blob could not be written."""


class BlobStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self.incoming = root / ".incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise NotFound("no such blob", code="bundle_not_found")
        return self.root / sha256[:2] / f"{sha256}.tar.gz"

    def stage(self, data: bytes) -> Path:
        """Bytes not yet verified, under a temporary name (not fsynced: a crash loses only an unanswered upload)."""
        try:
            fd, temp = tempfile.mkstemp(dir=self.incoming, prefix="up-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise BlobStoreError(f"cannot store the bundle: {exc.strerror}") from exc
        return Path(temp)

    def adopt(self, staged: Path, sha256: str) -> Path:
        """Staged bytes, verified, become the blob ``sha256``."""
        return self._place(staged, sha256, sync=self.fsync)

    def adopt_many(self, staged: list[tuple[Path, str]]) -> None:
        """``adopt`` for several blobs (staged path, sha256). Their fsyncs run at once, so the filesystem
        commits its journal once for the group instead of once for each (~4 ms each on the build host's disk)."""
        if not (self.fsync and len(staged) > 1):
            for path, sha256 in staged:
                self.adopt(path, sha256)
            return
        try:
            with ThreadPoolExecutor(min(len(staged), _GROUP_SYNC_THREADS)) as pool:
                list(pool.map(self._sync, [path for path, sha256 in staged if not self.path(sha256).exists()]))
        except OSError as exc:
            raise BlobStoreError(f"cannot store the bundle: {exc.strerror}") from exc
        for path, sha256 in staged:
            self._place(path, sha256, sync=False)

    def _place(self, staged: Path, sha256: str, *, sync: bool) -> Path:
        target = self.path(sha256)
        try:
            if target.exists():
                staged.unlink(missing_ok=True)
                return target
            if sync:
                self._sync(staged)
            target.parent.mkdir(exist_ok=True)
            os.replace(staged, target)
        except OSError as exc:
            raise BlobStoreError(f"cannot store the bundle: {exc.strerror}") from exc
        return target

    @staticmethod
    def _sync(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def discard(self, sha256: str) -> None:
        """Remove a blob no record names (an upload that lost a race for its bundle id)."""
        self.path(sha256).unlink(missing_ok=True)

    def discard_staged(self, older_than_s: float = 0.0) -> int:
        """Remove what a crashed run left staged; how many files. Replicas sharing the directory pass an age:
        a file staged seconds ago may be another replica's upload in flight."""
        removed = 0
        cutoff = time.time() - older_than_s
        for leftover in self.incoming.iterdir():
            try:
                if older_than_s and leftover.stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue  # adopted or discarded meanwhile by the replica that staged it
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("the bundle's bytes are missing", code="bundle_not_found") from exc
