"""Bundle bytes (and customers' screenshots), content-addressed by sha256, on the filesystem or in S3.

Both stores keep the same contract: an upload is first *staged* as a local file (the verify workers read it from
the page cache), then, once verified, *adopted* under its sha256; nothing half-written ever becomes visible under
a real name, and the same content written twice is one blob. Every method blocks: call from a thread or a worker.

A store is described by a ``BlobLocation`` (frozen, picklable): the ingest worker processes open their own store
from it (``open_blob_store``) instead of receiving a live client across a process boundary.
"""

from __future__ import annotations

from .base import BlobLocation, BlobStore, BlobStoreError, S3Location, blob_name, checked_digest, parse_blobs_url


def open_blob_store(location: BlobLocation) -> BlobStore:
    """The store a location describes (blocking: it creates the staging directory)."""
    if location.s3 is not None:
        from .s3 import S3BlobStore  # boto3 is imported only where object storage is used

        return S3BlobStore(location)
    from .filesystem import FilesystemBlobStore

    return FilesystemBlobStore(location)


__all__ = [
    "BlobLocation",
    "BlobStore",
    "BlobStoreError",
    "S3Location",
    "blob_name",
    "checked_digest",
    "open_blob_store",
    "parse_blobs_url",
]
