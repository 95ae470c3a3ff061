"""The blob stores' contract, against the filesystem and a real S3 server (Swift + s3api on loopback)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.app import create_app
from collector.blobs import BlobStore, BlobStoreError, open_blob_store
from collector.config import CollectorConfig
from collector.errors import NotFound
from collector.models import Role
from collector.state import BLOBS
from lab.swift_s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, SwiftS3
from tests.blob_fixtures import BlobBackend

from .conftest import NOW, Collector, ManualClock, collector_config


@pytest.fixture(params=list(BlobBackend))
def blob_backend(request: pytest.FixtureRequest) -> BlobBackend:
    return BlobBackend(request.param)


@pytest.fixture
def store(tmp_path: Path, blob_overrides: dict[str, Any]) -> Any:
    blobs = open_blob_store(collector_config(tmp_path, **blob_overrides).blob_location)
    blobs.check()
    yield blobs
    blobs.close()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_blob_round_trips_and_the_same_content_is_one_blob(store: BlobStore) -> None:
    data = b"bundle bytes " * 1000
    store.adopt(store.stage(data), _digest(data))
    store.adopt(store.stage(data), _digest(data))
    digest = _digest(data)
    assert store.names() == [f"{digest[:2]}/{digest}.tar.gz"]  # nothing staged left, one blob
    assert store.get(digest) == data
    store.discard(digest)
    store.discard(digest)  # discarding twice is harmless
    assert store.names() == []
    with pytest.raises(NotFound):
        store.get(digest)


def test_bytes_that_are_not_their_name_are_never_stored(store: BlobStore, blob_backend: BlobBackend) -> None:
    staged = store.stage(b"what was verified")
    staged.write_bytes(b"what the disk holds now")  # changed between verification and adoption
    claimed = _digest(b"what was verified")
    if blob_backend is BlobBackend.S3:
        with pytest.raises(BlobStoreError):
            store.adopt(staged, claimed)
        assert [name for name in store.names() if not name.startswith(".staged/")] == []
    for hostile in ("../../etc/passwd", "AB" * 32, "ab"):
        with pytest.raises(NotFound):
            store.get(hostile)


def test_a_crash_leaves_only_staged_files_which_start_up_removes(store: BlobStore) -> None:
    store.stage(b"an upload the crash interrupted")
    assert len(store.names()) == 1
    assert store.discard_staged() == 1
    assert store.names() == []


def test_replicas_sharing_the_staging_directory_leave_each_others_uploads_in_flight(store: BlobStore) -> None:
    """A replica starting removes only staged files older than any upload can take: not a neighbour's upload."""
    crashed, in_flight = store.stage(b"left by a crash an hour ago"), store.stage(b"another replica's upload")
    hour_ago = time.time() - 3601
    os.utime(crashed, (hour_ago, hour_ago))
    assert store.discard_staged(3600.0) == 1
    assert not crashed.exists() and in_flight.exists()
    store.adopt(in_flight, _digest(b"another replica's upload"))  # its owner still finishes it


def test_an_unreachable_object_store_is_refused_at_start(tmp_path: Path) -> None:
    config = CollectorConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "blobs_url": "s3://nowhere/bundles",
            "s3": {
                "endpoint_url": "http://127.0.0.1:9",
                "access_key_id": "a",
                "secret_access_key": "b",
                "timeout_s": 1,
            },
        }
    )
    blobs = open_blob_store(config.blob_location)
    try:
        with pytest.raises(BlobStoreError, match="cannot be reached"):
            blobs.check()
    finally:
        blobs.close()


@pytest.mark.parametrize("url", ["s3://", "s3://bucket?x=1", "file:///tmp/blobs", "bucket/prefix"])
def test_a_blobs_url_must_name_a_bucket(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="blobs_url"):
        CollectorConfig.model_validate({"data_dir": str(tmp_path), "blobs_url": url})


async def test_an_upload_that_loses_the_race_for_its_bundle_id_leaves_no_orphan_blob(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    bundle_id = uuid.uuid4()
    contenders = [
        agent.bundle(start=NOW, bundle_id=bundle_id, files={"host.json": f'{{"n": {n}}}'.encode()}) for n in range(2)
    ]
    answers = await asyncio.gather(*(collector.upload(data) for data in contenders))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [201, 409]
    winner = next(body for status, body, _ in answers if status == 201)
    digest = winner["sha256"]
    assert collector.client.app[BLOBS].names() == [f"{digest[:2]}/{digest}.tar.gz"]


@pytest.mark.parametrize("config_overrides", [{"ingest": {"verify_workers": 1}}])
async def test_a_worker_process_stores_the_blob_it_verified(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    data = agent.bundle(start=NOW)
    status, body, _ = await collector.upload(data)
    assert status == 201, body
    assert await asyncio.to_thread(collector.client.app[BLOBS].get, body["sha256"]) == data


async def test_an_object_store_that_fails_mid_run_answers_507_and_keeps_nothing(
    tmp_path: Path, swift_s3: SwiftS3
) -> None:
    """The bucket vanishes while the collector runs: the upload is refused as a storage failure (the agent's
    outbox retries it later), nothing is left staged, and nothing half-written is in the store."""
    bucket = f"homediag-gone-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=swift_s3.endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    s3.create_bucket(Bucket=bucket)
    overrides = {
        "blobs_url": f"s3://{bucket}/bundles",
        "s3": {
            "endpoint_url": swift_s3.endpoint_url,
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET_ACCESS_KEY,
        },
    }
    config = collector_config(tmp_path, **overrides)
    clock = ManualClock(NOW)
    app = create_app(config, clock=clock, monotonic_clock=clock.monotonic)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            collector = Collector(client, config, clock)
            agent = await collector.enrol("hh-a")
            s3.delete_bucket(Bucket=bucket)
            status, body, _ = await collector.upload(agent.bundle(start=NOW))
            assert (status, body["error"]["code"]) == (507, "storage_failed"), body
            assert list(config.blob_location.staging.iterdir()) == []
            listing = await collector.call("GET", "/api/v1/bundles", collector.user("eve", Role.ENGINEER))
            assert listing[1]["bundles"] == []
    finally:
        s3.close()


def test_a_batch_is_adopted_each_on_its_own(store: BlobStore, blob_backend: BlobBackend) -> None:
    """``adopt_all`` answers every staged file on its own: stored, already stored, or refused alone."""
    first, second = b"first bundle " * 100, b"second bundle " * 100
    store.adopt(store.stage(first), _digest(first))
    changed = store.stage(b"what was verified")
    changed.write_bytes(b"what the disk holds now")
    batch = [
        (store.stage(first), _digest(first)),  # the same content again: one blob
        (changed, _digest(b"what was verified")),
        (store.stage(second), _digest(second)),
    ]
    failures = store.adopt_all(batch)
    assert failures[0] is None and failures[2] is None
    assert store.get(_digest(first)) == first and store.get(_digest(second)) == second
    stored = [name for name in store.names() if not name.startswith(".staged/")]
    if blob_backend is BlobBackend.S3:  # the object store checks the bytes against their name
        assert isinstance(failures[1], BlobStoreError)
        assert store.names().count(f".staged/{changed.name}") == 1  # left to the caller, which removes it
        assert len(stored) == 2
    assert store.adopt_all([]) == []
