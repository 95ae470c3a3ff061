"""Blobs in S3-compatible object storage: ``s3://bucket/prefix`` → key ``prefix/ab/abcdef….tar.gz``.

Why nothing half-written becomes visible: an S3 PUT of one object is atomic (readers see the whole object or
none), and we never use multipart uploads (bundles are capped far below the 5 GiB of a single PUT). The bytes are
hashed before the PUT (they must be the sha256 they are named by), sent with ``Content-MD5`` (the server refuses a
body that arrives damaged, so no truncated object is ever stored), and the ETag that comes back must be that MD5
(for a single PUT it is the body's MD5), else the object is deleted again. Reads check the sha256 once more.
Staged uploads are local files, as with the filesystem store.

The client is boto3 (docs/dependencies.md says why); every boto error is converted here, once, into
``BlobStoreError`` (507) or ``NotFound``.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from ..errors import NotFound
from .base import AdoptionBatches, BlobLocation, BlobStoreError, S3Location, blob_name
from .filesystem import StagingArea

MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


_SESSION_LOCK = threading.Lock()


@cache
def _session() -> Any:
    """One boto3 session per process: it loads the S3 service model once (~0.2 s; a client from a warm session ~0.01 s), and every store
    (one per test, one per worker process) makes its client from it."""
    return boto3.session.Session()


def _new_client(s3: S3Location) -> Any:
    with _SESSION_LOCK:  # a boto3 session is not thread-safe; the clients it makes are
        return _session().client(
            "s3",
            endpoint_url=s3.endpoint_url,
            region_name=s3.region,
            aws_access_key_id=s3.access_key_id,
            aws_secret_access_key=s3.secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},  # works with an IP endpoint and any bucket name
                connect_timeout=s3.timeout_s,
                read_timeout=s3.timeout_s,
                retries={"mode": "standard", "max_attempts": 3},
                # We send Content-MD5 ourselves; the newer default CRC checksums are not understood everywhere.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )


class S3BlobStore:
    def __init__(self, location: BlobLocation) -> None:
        assert location.s3 is not None
        self.location = location
        self._s3 = location.s3
        self._staging = StagingArea(location.staging)
        self._client: Any = _new_client(self._s3)
        self._batches = AdoptionBatches("blob-put")

    def key(self, sha256: str) -> str:
        name = blob_name(sha256)
        return f"{self._s3.prefix}/{name}" if self._s3.prefix else name

    def stage(self, data: bytes) -> Path:
        return self._staging.stage(data)

    def adopt(self, staged: Path, sha256: str) -> None:
        key = self.key(sha256)
        try:
            data = staged.read_bytes()
        except OSError as exc:
            raise BlobStoreError(f"cannot read the staged bundle: {exc.strerror}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobStoreError("the staged bundle changed before it was stored")
        md5 = hashlib.md5(data, usedforsecurity=False)
        try:
            answer = self._client.put_object(
                Bucket=self._s3.bucket,
                Key=key,
                Body=data,
                ContentMD5=base64.b64encode(md5.digest()).decode(),
                ContentType="application/octet-stream",
                Metadata={"sha256": sha256},
            )
            if answer.get("ETag", "").strip('"') != md5.hexdigest():
                self._client.delete_object(Bucket=self._s3.bucket, Key=key)
                raise BlobStoreError("the object store acknowledged other bytes than were sent")
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(f"cannot store the bundle in the object store: {exc}") from exc
        staged.unlink(missing_ok=True)

    def adopt_all(self, staged: Sequence[tuple[Path, str]]) -> list[BlobStoreError | None]:
        """The batch's PUTs side by side (the client is thread-safe; its pool holds 10 connections)."""
        return self._batches.adopt_all(self.adopt, staged)

    def discard(self, sha256: str) -> None:
        try:
            self._client.delete_object(Bucket=self._s3.bucket, Key=self.key(sha256))
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(f"cannot remove a blob from the object store: {exc}") from exc

    def discard_staged(self, older_than_s: float = 0.0) -> int:
        return self._staging.discard_older_than(older_than_s)  # an interrupted PUT leaves nothing in the bucket

    def get(self, sha256: str) -> bytes:
        try:
            data: bytes = self._client.get_object(Bucket=self._s3.bucket, Key=self.key(sha256))["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in MISSING:
                raise NotFound("the bundle's bytes are missing", code="bundle_not_found") from exc
            raise BlobStoreError(f"cannot read the bundle from the object store: {exc}") from exc
        except BotoCoreError as exc:
            raise BlobStoreError(f"cannot read the bundle from the object store: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobStoreError(f"the object store returned damaged bytes for blob {sha256}")
        return data

    def names(self) -> list[str]:
        prefix = f"{self._s3.prefix}/" if self._s3.prefix else ""
        stored: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self._s3.bucket, Prefix=prefix):
                stored.extend(item["Key"][len(prefix) :] for item in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(f"cannot list the object store: {exc}") from exc
        return sorted(stored) + self._staging.names()

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self._s3.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(f"the object store's bucket {self._s3.bucket} cannot be reached: {exc}") from exc

    def close(self) -> None:
        self._batches.close()
        self._client.close()
