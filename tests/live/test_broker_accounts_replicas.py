"""Collector replicas share the broker's account files: concurrent enrolments on two replicas lose no entry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from collector.live_broker import BrokerAccounts


def test_two_replicas_writing_the_account_files_at_once_keep_every_entry(tmp_path: Path) -> None:
    replicas = [BrokerAccounts(tmp_path, "relay-a"), BrokerAccounts(tmp_path, "relay-b")]
    agents = [f"agt_{n:016x}" for n in range(24)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda n: replicas[n % 2].set_password(agents[n], "pw"), range(len(agents))))
    users = {line.split(":", 1)[0] for line in (tmp_path / "passwords").read_text().splitlines()}
    assert users == set(agents)
    acl = (tmp_path / "acl").read_text()
    assert "user relay-a" in acl and "user relay-b" in acl  # each replica's own relay account
