"""The strict test harness: real brokers, real servers, and no leftovers.

Every test fails if it leaves asyncio tasks or non-daemon threads running.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.store.backends import Dialect
from lab.disk import fill_filesystem, mount_small_disk, unmount_under
from lab.mosquitto import Mosquitto
from lab.postgres import PostgresServer, postgres_session
from tests.blob_fixtures import blob_backend, blob_overrides, swift_s3  # noqa: F401  (fixtures for every test area)
from tests.blocking import no_blocking_in_loop  # noqa: F401  (opted into by module: pytestmark)
from tests.lab_fixtures import lab_factory, lab_home  # noqa: F401  (fixtures for every test area)


@pytest.fixture(autouse=True)
def _no_lingering_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while True:
        leftover = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leftover, f"test left threads running: {leftover}"


@pytest.fixture(autouse=True)
async def _shutdown_default_executor() -> asyncio.AsyncIterator[None]:  # type: ignore[name-defined]
    """Join the test loop's default executor (``asyncio.to_thread``, aiohttp's resolver) before the thread check.

    Set up after ``_no_lingering_threads``, so torn down before it: the loop's idle worker threads end here
    instead of when pytest-asyncio closes the loop, after the check. A worker still blocked in a call makes
    this wait, and the thread check then reports it.
    """
    yield
    await asyncio.get_running_loop().shutdown_default_executor()


@pytest.fixture(autouse=True)
async def _no_lingering_tasks() -> asyncio.AsyncIterator[None]:  # type: ignore[name-defined]
    yield
    current = asyncio.current_task()
    for _ in range(20):
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not pending:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"test left asyncio tasks running: {pending}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, started on first use; each test takes a fresh database of it."""
    yield from postgres_session()


@pytest.fixture(params=list(Dialect))
def database(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The store each collector test runs on: every test that takes ``collector``
    (tests/collector, tests/support) runs on both backends."""
    if request.param is Dialect.SQLITE:
        return {}
    server: PostgresServer = request.getfixturevalue("postgres")
    return {"database_url": server.fresh_database()}


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A real Mosquitto on a free loopback port; ``kill()``/``start()`` it to simulate a crash."""
    broker = Mosquitto()
    try:
        broker.start()
        yield broker
    finally:
        broker.close()


class SmallDisk:
    """A real, tiny filesystem (tmpfs) that a test can fill to the last byte and free again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / ".filler"

    def fill(self) -> None:
        """Take every free byte."""
        fill_filesystem(self._filler)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 4 MB tmpfs mounted under the test's directory (needs root, like the lab); unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mount_point = mount_small_disk(tmp_path / "disk", 4, "homediag-test")
    try:
        yield SmallDisk(mount_point)
    finally:
        unmount_under(mount_point)
