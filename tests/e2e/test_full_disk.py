"""A full disk on either side: a clear error, and nothing lost that can be kept (real tmpfs, real processes)."""

from __future__ import annotations

from pathlib import Path

from lab.collector_process import CollectorProcess
from tests.conftest import SmallDisk

from .conftest import Stack, user_token


def _bundle_id(stdout: str) -> str:
    return stdout.split("bundle ", 1)[1].split()[0]


def test_a_hub_whose_disk_is_full_still_delivers_and_says_when_it_cannot(stack: Stack, small_disk: SmallDisk) -> None:
    config = stack.enrolled_agent("hub", state_root=small_disk.path)
    ticket = stack.open_ticket("curtain doesn't respond remotely at night")
    small_disk.fill()
    done = stack.agent(config, "bundle", "create", "--upload")
    assert "delivered" in done.stdout
    attached = [bundle["bundle_id"] for bundle in stack.ticket(ticket["id"])["bundles"]]
    assert attached == [_bundle_id(done.stdout)]

    stack.collector.stop()  # neither the disk nor the collector: the command says the bundle is not kept
    lost = stack.agent(config, "bundle", "create", "--upload", "--wait", "1", check=False)
    assert lost.returncode == 2, lost.stdout + lost.stderr
    reason = lost.stderr.strip().splitlines()[-1]  # after the outbox's logged warning
    assert reason.startswith("homediag-agent: bundle ") and "neither spooled" in reason


def test_a_collector_whose_disk_is_full_refuses_clearly_and_the_bundle_arrives_later(tmp_path: Path, small_disk: SmallDisk) -> None:
    collector = CollectorProcess(small_disk.path / "collector")
    collector.start()
    try:
        stack = Stack(collector, tmp_path, user_token(collector.admin("user", "create", "--name", "eve", "--role", "engineer")))
        config = stack.enrolled_agent("hub")
        small_disk.fill()
        waiting = stack.agent(config, "bundle", "create", "--upload", "--wait", "2")
        assert "queued in the spool" in waiting.stdout
        bundle_id = _bundle_id(waiting.stdout)
        status, body = stack.api("GET", f"/api/v1/bundles/{bundle_id}/meta")
        assert status == 404, body

        small_disk.free()
        flushed = stack.agent(config, "bundle", "flush")
        assert f"bundle {bundle_id} delivered" in flushed.stdout
        status, body = stack.api("GET", f"/api/v1/bundles/{bundle_id}/meta")
        assert status == 200 and body["verified"], body
    finally:
        collector.stop()
