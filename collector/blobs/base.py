"""The blob stores' shared contract: the ``BlobStore`` protocol, where a store lives (``BlobLocation``), and how
blobs are named. Kept apart from the package's ``open_blob_store`` so the stores can use it without importing
the package that chooses between them."""

from __future__ import annotations

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


def parse_blobs_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → (bucket, prefix without slashes at either end)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"blobs_url must look like s3://bucket/prefix, not {url!r}")
    return parts.netloc, parts.path.strip("/")
