"""A serving store's WAL is checkpointed beside it, never inside one of its commits (real SQLite, real tmpfs)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from collector.config import CollectorConfig
from collector.store import Database, Store
from collector.store.backends.checkpoints import WalCheckpoints
from shared.models import utcnow
from tests.conftest import SmallDisk
from tests.waiting import eventually

INTERVAL_S = 0.05
PAD = "x" * 8192  # each entry's commit writes ~8 pages to the WAL: its own, the table's, the id counter's


def _write(store: Store, round_: int, entries: int) -> None:
    for n in range(entries):
        store.audit("admin", "test.write", f"r{round_}-{n}", {"pad": PAD}, utcnow())


def _autocheckpoint(store: Store) -> int:
    return int(store.backend.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


async def _passes_after_now(checkpoints: WalCheckpoints) -> None:
    """Until a checkpoint that began after this call has ended (the one under way may have begun before)."""
    target = checkpoints.passes + 2
    await eventually(lambda: checkpoints.passes >= target, interval=INTERVAL_S / 5, what="a checkpoint")


async def test_commits_never_checkpoint_and_the_wal_is_copied_and_started_over_beside_them(tmp_path: Path) -> None:
    config = CollectorConfig(data_dir=tmp_path)
    wal = config.database_path.with_name(config.database_path.name + "-wal")
    sizes = []
    async with Database(config, checkpoint_interval_s=INTERVAL_S) as db:
        checkpoints = db.checkpoints
        assert isinstance(checkpoints, WalCheckpoints)
        assert await db.run(_autocheckpoint) == 0
        for round_ in range(10):  # ~13 MB in all: with no checkpoints, all of it would stay in the WAL
            await db.run(_write, round_, 40)
            await _passes_after_now(checkpoints)
            assert checkpoints.last is not None and checkpoints.last.frames == checkpoints.last.copied
            sizes.append(wal.stat().st_size)
        assert checkpoints.failures == 0
    # The WAL starts over once all of it is copied: it never holds much more than one round's ~1.3 MB.
    assert max(sizes) < 2 * 1024 * 1024, sizes
    assert not wal.exists()  # the store's connection, closed last, checkpointed the rest and removed it
    with sqlite3.connect(config.database_path) as reader:
        assert reader.execute("SELECT count(*) FROM audit WHERE action = 'test.write'").fetchone()[0] == 400


async def test_a_checkpoint_the_full_disk_refuses_is_said_once_and_done_once_there_is_room(
    small_disk: SmallDisk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="collector.store.backends.checkpoints")
    async with Database(CollectorConfig(data_dir=small_disk.path), checkpoint_interval_s=INTERVAL_S) as db:
        checkpoints = db.checkpoints
        assert isinstance(checkpoints, WalCheckpoints)
        await db.run(_write, 0, 40)  # the WAL grows to ~1.3 MB, then is copied into the database file
        await _passes_after_now(checkpoints)
        small_disk.fill()
        # The WAL starts over in the room it already has; copying these pages needs the database file to grow.
        await db.run(_write, 1, 20)
        await eventually(lambda: checkpoints.failures >= 3, interval=INTERVAL_S / 5, what="three refused checkpoints")
        assert await db.run(Store.audit_log, target="r1-19")  # the store still reads what the WAL holds
        small_disk.free()
        await _passes_after_now(checkpoints)
        assert checkpoints.last is not None and checkpoints.last.frames == checkpoints.last.copied > 0
    said = [r for r in caplog.records if r.name == "collector.store.backends.checkpoints"]
    assert [(r.levelno, r.getMessage().split(" (")[0]) for r in said] == [
        (logging.WARNING, "the WAL cannot be checkpointed"),
        (logging.INFO, "the WAL is checkpointed again"),
    ]
