"""The spool and the uploader on real files against real aiohttp servers on loopback."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import threading
from pathlib import Path

import pytest
from aiohttp import web

from agent.collector_client import CollectorClient, UploadOutcome, UploadResult
from agent.outbox import (
    LOCK_FILE,
    Fate,
    Outbox,
    Spool,
    SpoolEntry,
    SpoolFull,
    backoff_delay,
    entry_name,
    parse_entry_name,
    plan_eviction,
    upload_order,
)
from tests.conftest import SmallDisk
from tests.waiting import eventually

from .conftest import MakeBundle, ScriptedCollector

BID = "00000000-0000-4000-8000-0000000000{:02d}"


def _entry(n: int, *, urgent: bool = False, size: int = 10) -> SpoolEntry:
    bundle_id = BID.format(n)
    return SpoolEntry(Path(entry_name(n, urgent, bundle_id)), n, urgent, bundle_id, size)


def _spool(tmp_path: Path, *, max_bytes: int = 1 << 20, max_files: int = 50) -> Spool:
    spool = Spool(tmp_path / "spool", max_bytes=max_bytes, max_files=max_files, max_rejected=5)
    spool.recover()
    return spool


def _outbox(spool: Spool, client: CollectorClient, results: list[UploadResult] | None = None, **kw: float) -> Outbox:
    def remember(_entry: SpoolEntry, result: UploadResult) -> None:
        if results is not None:
            results.append(result)

    return Outbox(
        spool, client, backoff_initial_s=kw.get("initial", 0.05), backoff_max_s=kw.get("max", 0.2), on_result=remember
    )


async def _stored(n: int, body: bytes = b"") -> web.Response:
    return web.json_response({"bundle_id": "x", "status": "stored", "ticket_id": None, "verified": True}, status=201)


# -- pure decisions --------------------------------------------------------------------------------------------


def test_entry_names_round_trip() -> None:
    name = entry_name(42, True, BID.format(1))
    assert parse_entry_name(name) == (42, True, BID.format(1))
    assert parse_entry_name(".tmp-abc-" + name) is None
    assert parse_entry_name("notes.txt") is None


def test_upload_order_is_urgent_first_then_oldest() -> None:
    entries = [_entry(3), _entry(1), _entry(4, urgent=True), _entry(2, urgent=True)]
    assert [e.seq for e in upload_order(entries)] == [2, 4, 1, 3]


def test_eviction_drops_oldest_non_urgent_first() -> None:
    entries = [_entry(1, urgent=True), _entry(2), _entry(3), _entry(4)]
    victims = plan_eviction(entries, incoming_size=10, max_bytes=1000, max_files=3)
    assert [v.seq for v in victims] == [2, 3]
    victims = plan_eviction(entries, incoming_size=25, max_bytes=50, max_files=100)
    assert [v.seq for v in victims] == [2, 3]
    assert plan_eviction(entries, incoming_size=10, max_bytes=1000, max_files=100) == []


def test_eviction_spares_the_bundle_in_flight() -> None:
    entries = [_entry(1), _entry(2)]
    victims = plan_eviction(entries, incoming_size=10, max_bytes=1000, max_files=2, keep=frozenset({BID.format(1)}))
    assert [v.seq for v in victims] == [2]


def test_eviction_refuses_when_only_urgent_bundles_remain() -> None:
    entries = [_entry(1, urgent=True), _entry(2, urgent=True)]
    with pytest.raises(SpoolFull, match="only urgent"):
        plan_eviction(entries, incoming_size=10, max_bytes=1000, max_files=2)
    with pytest.raises(SpoolFull, match="larger than the whole spool"):
        plan_eviction([], incoming_size=2000, max_bytes=1000, max_files=2)


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    assert [backoff_delay(a, 1.0, 300.0, lambda: 1.0) for a in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_delay(20, 1.0, 300.0, lambda: 1.0) == 300.0
    assert backoff_delay(10_000, 1.0, 300.0, lambda: 1.0) == 300.0
    assert backoff_delay(3, 1.0, 300.0, lambda: 0.0) == 0.0
    assert backoff_delay(3, 1.0, 300.0, lambda: 0.5) == 4.0


# -- the spool on disk -----------------------------------------------------------------------------------------


def test_put_is_atomic_and_idempotent(tmp_path: Path, make_bundle: MakeBundle) -> None:
    spool = _spool(tmp_path)
    manifest, data = make_bundle()
    put = spool.put(data, manifest)
    assert put.entry.path.read_bytes() == data
    assert put.entry.bundle_id == str(manifest.bundle_id)
    assert not list(spool.directory.glob(".tmp-*"))
    again = spool.put(data, manifest)
    assert again.already_queued and again.entry.path == put.entry.path
    assert len(spool.entries()) == 1


def test_recover_removes_half_written_files_and_never_lists_them(tmp_path: Path, make_bundle: MakeBundle) -> None:
    spool = _spool(tmp_path)
    manifest, data = make_bundle()
    half = spool.directory / f".tmp-deadbeef-{entry_name(1, False, str(manifest.bundle_id))}"
    half.write_bytes(data[:10])
    assert spool.entries() == []
    assert spool.recover() == [half]
    assert not half.exists()


def test_recover_never_removes_another_process_write_in_progress(tmp_path: Path, make_bundle: MakeBundle) -> None:
    """The writer holds the spool's flock (here through its own open file, as another process would) while its
    temporary file exists: the clean-up waits for it instead of deleting the file under it."""
    spool = _spool(tmp_path)
    manifest, data = make_bundle()
    final = spool.directory / entry_name(1, False, str(manifest.bundle_id))
    writing = spool.directory / f".tmp-writer-{final.name}"
    fd = os.open(spool.directory / LOCK_FILE, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    writing.write_bytes(data)
    removed: list[list[Path]] = []
    cleanup = threading.Thread(target=lambda: removed.append(spool.recover()))
    cleanup.start()
    try:
        cleanup.join(0.2)  # however long it is given, it cannot pass the lock
        assert writing.exists()
        os.rename(writing, final)
    finally:
        os.close(fd)  # the writer is done: its lock goes with it
        cleanup.join(10)
    assert removed == [[]]
    assert [e.bundle_id for e in spool.entries()] == [str(manifest.bundle_id)]


def test_a_bundle_claimed_by_one_uploader_is_skipped_by_the_others(tmp_path: Path, make_bundle: MakeBundle) -> None:
    spool = _spool(tmp_path)
    manifest, data = make_bundle()
    entry = spool.put(data, manifest).entry
    claim = spool.try_claim(entry)
    assert claim is not None
    assert spool.try_claim(entry) is None  # another open file: as another process
    claim.release()
    again = spool.try_claim(entry)
    assert again is not None
    spool.remove(entry)
    again.release()
    assert spool.try_claim(entry) is None  # delivered: nothing left to claim


def test_the_fate_of_a_bundle_says_where_it_went(tmp_path: Path, make_bundle: MakeBundle) -> None:
    spool = _spool(tmp_path, max_files=1)
    (old_manifest, old), (new_manifest, new) = make_bundle(), make_bundle()
    spool.put(old, old_manifest)
    assert spool.fate(str(old_manifest.bundle_id)) is Fate.QUEUED
    put = spool.put(new, new_manifest)
    assert spool.fate(str(old_manifest.bundle_id)) is Fate.DROPPED
    spool.reject(put.entry, UploadResult(UploadOutcome.REJECTED, 422, code="hash_mismatch", message="no"))
    assert spool.fate(str(new_manifest.bundle_id)) is Fate.REJECTED
    manifest, data = make_bundle()
    spool.remove(spool.put(data, manifest).entry)
    assert spool.fate(str(manifest.bundle_id)) is Fate.DELIVERED


def test_a_staged_bundle_is_not_uploadable_until_committed(tmp_path: Path, make_bundle: MakeBundle) -> None:
    spool = _spool(tmp_path)
    manifest, data = make_bundle(signature="broker_down")
    staged = spool.stage(data, manifest)
    assert spool.entries() == []
    assert [(path, m.bundle_id if m else None) for path, m in spool.staged()] == [(staged, manifest.bundle_id)]
    put = spool.commit(staged, manifest)
    assert put.entry.path.read_bytes() == data and not staged.exists()
    assert spool.staged() == []
    twin = spool.stage(data, manifest)  # committed before: the staged copy is a twin and goes
    assert spool.commit(twin, manifest).already_queued and not twin.exists()


def test_full_spool_drops_oldest_non_urgent_and_records_it(tmp_path: Path, make_bundle: MakeBundle) -> None:
    spool = _spool(tmp_path, max_files=3)
    urgent = make_bundle(urgent=True, signature="hub_reboot")
    old = make_bundle(signature="router_reboot")
    newer = make_bundle()
    for manifest, data in (urgent, old, newer):
        spool.put(data, manifest)
    incoming = make_bundle()
    put = spool.put(incoming[1], incoming[0])
    assert [r.bundle_id for r in put.dropped] == [str(old[0].bundle_id)]
    assert {e.bundle_id for e in spool.entries()} == {str(m.bundle_id) for m, _ in (urgent, newer, incoming)}
    dropped = spool.dropped()
    assert len(dropped) == 1
    assert dropped[0].bundle_id == str(old[0].bundle_id)
    assert dropped[0].trigger is not None and dropped[0].trigger.signature == "router_reboot"
    assert "spool full" in dropped[0].reason
    line = json.loads((spool.directory / "dropped.jsonl").read_text().splitlines()[0])
    assert {"ts", "bundle_id", "trigger", "reason"} <= line.keys()


def test_full_spool_of_urgent_bundles_refuses_the_new_one(tmp_path: Path, make_bundle: MakeBundle) -> None:
    spool = _spool(tmp_path, max_files=2)
    for _ in range(2):
        manifest, data = make_bundle(urgent=True)
        spool.put(data, manifest)
    manifest, data = make_bundle()
    with pytest.raises(SpoolFull):
        spool.put(data, manifest)
    assert len(spool.entries()) == 2
    assert spool.dropped() == []


# -- the uploader ----------------------------------------------------------------------------------------------


async def test_delivers_urgent_first_then_oldest_and_deletes_after_ack(
    tmp_path: Path,
    make_bundle: MakeBundle,
    scripted_collector,
) -> None:
    collector: ScriptedCollector = await scripted_collector(_stored)
    spool = _spool(tmp_path)
    bundles = [make_bundle(), make_bundle(), make_bundle(urgent=True)]
    for manifest, data in bundles:
        spool.put(data, manifest)
    results: list[UploadResult] = []
    async with CollectorClient(collector.url) as client, _outbox(spool, client, results) as outbox:
        assert await outbox.drain(10)
        assert await outbox.pending() == []
    assert [body for _, body in collector.received] == [bundles[2][1], bundles[0][1], bundles[1][1]]
    assert all(r.outcome is UploadOutcome.DELIVERED for r in results)


async def test_bundle_stays_until_the_collector_acknowledges(
    tmp_path: Path,
    make_bundle: MakeBundle,
    scripted_collector,
) -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def slow(n: int, body: bytes) -> web.Response:
        arrived.set()
        await release.wait()
        return await _stored(n)

    collector: ScriptedCollector = await scripted_collector(slow)
    spool = _spool(tmp_path)
    async with CollectorClient(collector.url) as client, _outbox(spool, client) as outbox:
        manifest, data = make_bundle()
        put = await outbox.put(data, manifest)
        await asyncio.wait_for(arrived.wait(), 10)
        assert put.entry.path.exists(), "deleted before the collector answered"
        release.set()
        assert await outbox.drain(10)
    assert not put.entry.path.exists()


async def test_unreachable_collector_backs_off_and_keeps_the_bundle(
    tmp_path: Path,
    make_bundle: MakeBundle,
    scripted_collector,
) -> None:
    async def flaky(n: int, body: bytes) -> web.Response:
        if n <= 3:
            return web.json_response({"error": {"code": "unavailable", "message": "db down"}}, status=503)
        return await _stored(n)

    collector: ScriptedCollector = await scripted_collector(flaky)
    spool = _spool(tmp_path)
    manifest, data = make_bundle()
    spool.put(data, manifest)
    async with CollectorClient(collector.url) as client, _outbox(spool, client) as outbox:
        assert await outbox.drain(10)
    assert len(collector.received) == 4
    assert spool.entries() == []


async def test_wake_retries_at_once_instead_of_waiting_out_the_backoff(
    tmp_path: Path,
    make_bundle: MakeBundle,
    scripted_collector,
) -> None:
    async def once_down(n: int, body: bytes) -> web.Response:
        if n == 1:
            return web.Response(status=502)
        return await _stored(n)

    collector: ScriptedCollector = await scripted_collector(once_down)
    spool = _spool(tmp_path)
    manifest, data = make_bundle()
    spool.put(data, manifest)
    async with (
        CollectorClient(collector.url) as client,
        Outbox(spool, client, backoff_initial_s=3600, backoff_max_s=3600, rand=lambda: 1.0) as outbox,
    ):
        for _ in range(200):
            if collector.received:
                break
            await asyncio.sleep(0.02)
        assert not await outbox.drain(0.3), "a one-hour backoff should still be running"
        outbox.wake()
        assert await outbox.drain(10)
    assert len(collector.received) == 2


async def test_retry_after_is_honoured(
    tmp_path: Path,
    make_bundle: MakeBundle,
    scripted_collector,
) -> None:
    async def limited(n: int, body: bytes) -> web.Response:
        if n == 1:
            return web.json_response(
                {"error": {"code": "rate_limited", "message": "slow down"}}, status=429, headers={"Retry-After": "1"}
            )
        return await _stored(n)

    collector: ScriptedCollector = await scripted_collector(limited)
    spool = _spool(tmp_path)
    manifest, data = make_bundle()
    spool.put(data, manifest)
    async with CollectorClient(collector.url) as client, _outbox(spool, client) as outbox:
        assert await outbox.drain(10)
    (first, _), (second, _) = collector.received
    assert second - first >= 0.95, "retried before Retry-After elapsed"


async def test_final_refusal_moves_the_bundle_aside_once(
    tmp_path: Path,
    make_bundle: MakeBundle,
    scripted_collector,
) -> None:
    async def conflict(n: int, body: bytes) -> web.Response:
        return web.json_response({"error": {"code": "bundle_conflict", "message": "different bytes"}}, status=409)

    collector: ScriptedCollector = await scripted_collector(conflict)
    spool = _spool(tmp_path)
    manifest, data = make_bundle(signature="dns_failure")
    put = spool.put(data, manifest)
    results: list[UploadResult] = []
    async with CollectorClient(collector.url) as client, _outbox(spool, client, results) as outbox:
        assert await outbox.drain(10)
    assert len(collector.received) == 1
    assert results[0].outcome is UploadOutcome.REJECTED and results[0].code == "bundle_conflict"
    kept = spool.rejected_dir / put.entry.name
    assert kept.read_bytes() == data
    reason = json.loads(kept.with_name(kept.name + ".json").read_text())
    assert reason["status"] == 409 and reason["code"] == "bundle_conflict"
    [record] = spool.rejected()
    assert (
        record.bundle_id == str(manifest.bundle_id)
        and record.trigger is not None
        and record.trigger.signature == "dns_failure"
    )


async def test_refused_connection_keeps_the_bundle_queued(tmp_path: Path, make_bundle: MakeBundle) -> None:
    from lab.mosquitto import free_port

    spool = _spool(tmp_path)
    manifest, data = make_bundle()
    async with CollectorClient(f"http://127.0.0.1:{free_port()}") as client, _outbox(spool, client) as outbox:
        await outbox.put(data, manifest)
        assert not await outbox.drain(0.3)
        assert [e.bundle_id for e in await outbox.pending()] == [str(manifest.bundle_id)]
    assert len(spool.entries()) == 1


@pytest.mark.parametrize("collector_down", [False, True], ids=["delivered-from-memory", "spooled-once-the-disk-frees"])
async def test_a_full_disk_loses_nothing(
    collector_down: bool,
    small_disk: SmallDisk,
    make_bundle: MakeBundle,
    scripted_collector,
) -> None:
    up = asyncio.Event()
    if not collector_down:
        up.set()
    stored: list[bytes] = []

    async def answer(n: int, body: bytes) -> web.Response:
        if not up.is_set():
            return web.json_response({"error": {"code": "unavailable", "message": "down"}}, status=503)
        stored.append(body)
        return await _stored(n)

    collector: ScriptedCollector = await scripted_collector(answer)
    spool = _spool(small_disk.path)
    small_disk.fill()
    async with CollectorClient(collector.url) as client, _outbox(spool, client) as outbox:
        manifest, data = make_bundle(payload=os.urandom(64 * 1024))
        put = await outbox.put(data, manifest)
        assert put.held and not put.entry.path.exists()
        if collector_down:
            assert [entry.bundle_id for entry in await outbox.pending()] == [put.entry.bundle_id]
            small_disk.free()
            outbox.wake()
            await eventually(lambda: len(spool.entries()) == 1)  # on disk as soon as the disk takes it
            assert spool.read(spool.entries()[0]) == data
            up.set()
            outbox.wake()
        assert await outbox.drain(10)
    assert stored == [data] and spool.entries() == []


async def test_a_bundle_waiting_out_a_backoff_is_free_for_another_uploader(
    tmp_path: Path, make_bundle: MakeBundle
) -> None:
    """The running agent backing off must not keep a ``bundle flush`` from trying the bundle meanwhile."""
    from lab.mosquitto import free_port

    spool = _spool(tmp_path)
    manifest, data = make_bundle()
    async with (
        CollectorClient(f"http://127.0.0.1:{free_port()}") as client,
        _outbox(spool, client, initial=30, max=30) as outbox,
    ):
        await outbox.put(data, manifest)
        await eventually(lambda: outbox.unreachable is not None)
        [entry] = spool.entries()
        claim = await asyncio.to_thread(spool.try_claim, entry)
        assert claim is not None, "the bundle stayed claimed through the backoff"
        claim.release()
