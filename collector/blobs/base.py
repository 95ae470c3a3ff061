"""The blob stores' shared contract: the ``BlobStore`` protocol, where a store lives (``BlobLocation``), and how
blobs are named. Kept apart from the package's ``open_blob_store`` so the stores can use it without importing
the package that chooses between them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ..errors import NotFound, StorageFailed

SHA256_DIGITS = frozenset("0123456789abcdef")


class BlobStoreError(StorageFailed):
    """A blob could not be written or read back intact."""


def checked_digest(sha256: str) -> str:
    """A blob name is a lowercase hex sha256; anything else names no blob (and never reaches a path or a key)."""
    if len(sha256) != 64 or not SHA256_DIGITS.issuperset(sha256):
        raise NotFound("no such blob", code="bundle_not_found")
    return sha256


def blob_name(sha256: str) -> str:
    """``ab/abcdef….tar.gz``: the file's path under the root, or the object's key under the prefix."""
    return f"{sha256[:2]}/{checked_digest(sha256)}.tar.gz"


@dataclass(frozen=True)
class S3Location:
    """An S3 bucket and key prefix, the endpoint and the credentials to reach it."""

    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str
    access_key_id: str | None
    secret_access_key: str | None
    timeout_s: float


@dataclass(frozen=True)
class BlobLocation:
    """Where blobs live: ``root`` for the filesystem store, ``s3`` for object storage; staged uploads always go
    to ``staging`` on the local disk (for the filesystem store, inside ``root`` so adoption is a rename)."""

    staging: Path
    fsync: bool
    root: Path | None = None
    s3: S3Location | None = None


class BlobStore(Protocol):
    location: BlobLocation

    def stage(self, data: bytes) -> Path:
        """Bytes not yet verified, written to a local temporary file."""
        ...

    def adopt(self, staged: Path, sha256: str) -> None:
        """Staged bytes, verified, become the blob ``sha256`` (the staged file is consumed)."""
        ...

    def adopt_all(self, staged: Sequence[tuple[Path, str]]) -> list[BlobStoreError | None]:
        """``adopt`` for several staged files at once (their fsyncs or PUTs overlap); for each, in order, None
        when it is stored or the error that kept it out (its staged file is then left to the caller)."""
        ...

    def discard(self, sha256: str) -> None:
        """Remove a blob no record names (an upload that lost a race for its bundle id)."""
        ...

    def discard_staged(self, older_than_s: float = 0.0) -> int:
        """Remove what a crashed run left staged; how many files. Replicas sharing the staging directory pass an
        age: a file staged seconds ago may be another replica's upload in flight."""
        ...

    def get(self, sha256: str) -> bytes:
        """The blob's bytes; ``NotFound`` when there is none."""
        ...

    def names(self) -> list[str]:
        """Every stored blob's name and every staged file's, for checks and tests (lists the whole store)."""
        ...

    def check(self) -> None:
        """Raise ``BlobStoreError`` when the store cannot be reached (called once at start)."""
        ...

    def close(self) -> None:
        """Release connections (the S3 client's pool)."""
        ...


class AdoptionBatches:
    """``adopt_all`` for a store: the batch's adoptions side by side in a few threads (they wait on the disk's
    journal or on the network, not on the CPU), each answered on its own. The threads start with the first batch."""

    THREADS = 8

    def __init__(self, name: str) -> None:
        self._name = name
        self._pool: ThreadPoolExecutor | None = None

    def adopt_all(
        self, adopt: Callable[[Path, str], None], staged: Sequence[tuple[Path, str]], *, side_by_side: bool = True
    ) -> list[BlobStoreError | None]:
        def failure_of(item: tuple[Path, str]) -> BlobStoreError | None:
            try:
                adopt(*item)
            except BlobStoreError as exc:
                return exc
            return None

        if len(staged) < 2 or not side_by_side:
            return [failure_of(item) for item in staged]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.THREADS, thread_name_prefix=self._name)
        return list(self._pool.map(failure_of, staged))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def parse_blobs_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → (bucket, prefix without slashes at either end)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"blobs_url must look like s3://bucket/prefix, not {url!r}")
    return parts.netloc, parts.path.strip("/")
