"""The collector's database on a disk that fills up: a clear 507-class error, and it works again once freed."""

from __future__ import annotations

import pytest

from collector.config import CollectorConfig
from collector.errors import StorageFailed
from collector.store import Database, Store
from shared.models import utcnow
from tests.conftest import SmallDisk


async def test_a_full_disk_is_storage_failed_and_never_wedges_the_store(small_disk: SmallDisk) -> None:
    async with Database(CollectorConfig(data_dir=small_disk.path)) as db:  # SQLite: the file is on that disk
        await db.run(Store.audit, "admin", "test.write", "t-0", {"pad": "x"}, utcnow())
        small_disk.fill()
        with pytest.raises(StorageFailed) as refused:
            for n in range(1, 200):  # the WAL grows until the disk refuses it
                await db.run(Store.audit, "admin", "test.write", f"t-{n}", {"pad": "x" * 8192}, utcnow())
        assert refused.value.status == 507 and refused.value.code == "storage_failed"
        small_disk.free()
        await db.run(Store.audit, "admin", "test.write", "after", {}, utcnow())  # no transaction left open
        targets = [row["target"] for row in await db.run(Store.audit_log, limit=1000)]
    assert targets[0] == "after" and "t-0" in targets
