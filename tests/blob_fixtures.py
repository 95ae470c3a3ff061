"""Blob store fixtures for every test area: ``blob_backend`` (the filesystem unless a module asks for both) and
``blob_overrides`` (the collector configuration for it), with one real S3 server per session when S3 is asked for."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from lab.swift_s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, SwiftS3


class BlobBackend(StrEnum):
    FILESYSTEM = "filesystem"
    S3 = "s3"


S3_TEST_BUCKET = "homediag-test"


@pytest.fixture(scope="session")
def swift_s3() -> Iterator[SwiftS3]:
    """One real S3 server (Swift + s3api on loopback) for the whole session, with the test bucket."""
    server = SwiftS3()
    server.start()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )
        client.create_bucket(Bucket=S3_TEST_BUCKET)
        client.close()
        yield server
    finally:
        server.stop()


@pytest.fixture
def blob_backend() -> BlobBackend:
    """The filesystem; modules that test blobs and ingest override this with both backends."""
    return BlobBackend.FILESYSTEM


@pytest.fixture
def blob_overrides(request: pytest.FixtureRequest, blob_backend: BlobBackend) -> dict[str, Any]:
    if blob_backend is BlobBackend.FILESYSTEM:
        return {}
    server: SwiftS3 = request.getfixturevalue("swift_s3")
    return {
        "blobs_url": f"s3://{S3_TEST_BUCKET}/{uuid.uuid4().hex}/bundles",  # a prefix of its own per test
        "s3": {
            "endpoint_url": server.endpoint_url,
            "region": REGION,
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET_ACCESS_KEY,
        },
    }
