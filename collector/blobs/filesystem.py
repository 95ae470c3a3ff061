"""Blobs on the filesystem: ``<root>/ab/abcdef….tar.gz``, staged under ``<root>/.incoming/``.

Adoption fsyncs the staged file (configurable) and renames it into place, so a crash never leaves a half blob
under a real name; a crash leaves at most staged files, which ``discard_staged`` removes at start (replicas that
share the directory remove only files older than any upload in flight). Creating a file can wait for the journal
while other blobs are fsynced: every method here runs in a thread or a worker.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import NotFound
from .base import AdoptionBatches, BlobLocation, BlobStoreError, blob_name


class StagingArea:
    """Local files for uploads not yet verified (not fsynced: a crash loses only an unanswered upload)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def stage(self, data: bytes) -> Path:
        try:
            fd, temp = tempfile.mkstemp(dir=self.directory, prefix="up-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise BlobStoreError(f"cannot store the bundle: {exc.strerror}") from exc
        return Path(temp)

    def discard_older_than(self, older_than_s: float) -> int:
        removed = 0
        cutoff = time.time() - older_than_s
        for leftover in self.directory.iterdir():
            try:
                if older_than_s and leftover.stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue  # adopted or discarded meanwhile by the replica that staged it
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def names(self) -> list[str]:
        return sorted(f".staged/{path.name}" for path in self.directory.iterdir())


class FilesystemBlobStore:
    def __init__(self, location: BlobLocation) -> None:
        assert location.root is not None
        self.location = location
        self.root = location.root
        self._staging = StagingArea(location.staging)
        self._batches = AdoptionBatches("blob-fsync")

    def path(self, sha256: str) -> Path:
        return self.root / blob_name(sha256)

    def stage(self, data: bytes) -> Path:
        return self._staging.stage(data)

    def adopt(self, staged: Path, sha256: str) -> None:
        target = self.path(sha256)
        try:
            if target.exists():
                staged.unlink(missing_ok=True)  # the same content is stored already
                return
            target.parent.mkdir(exist_ok=True)
            if self.location.fsync:
                fd = os.open(staged, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            os.replace(staged, target)
        except OSError as exc:
            raise BlobStoreError(f"cannot store the bundle: {exc.strerror}") from exc

    def adopt_all(self, staged: Sequence[tuple[Path, str]]) -> list[BlobStoreError | None]:
        """The batch's fsyncs run side by side: concurrent fsyncs share the journal's commits (one costs ~4 ms on
        a plain disk), so a batch waits about as long as one blob instead of one commit per blob in turn."""
        return self._batches.adopt_all(self.adopt, staged, side_by_side=self.location.fsync)

    def discard(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def discard_staged(self, older_than_s: float = 0.0) -> int:
        return self._staging.discard_older_than(older_than_s)

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("the bundle's bytes are missing", code="bundle_not_found") from exc

    def names(self) -> list[str]:
        stored = (path.relative_to(self.root).as_posix() for path in self.root.glob("??/*.tar.gz"))
        return sorted(stored) + self._staging.names()

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise BlobStoreError(f"the blob directory {self.root} is not writable")

    def close(self) -> None:
        self._batches.close()
