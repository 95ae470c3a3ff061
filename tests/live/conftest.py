"""A support broker configured by the project: password file + ACL from collector.live_broker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.live_broker import BrokerAccounts, render_listener_auth
from lab.certs import ServerCertificate
from lab.mosquitto import Mosquitto

COLLECTOR_USER = "collector"


@dataclass
class SupportBroker:
    broker: Mosquitto
    accounts: BrokerAccounts
    passwords: dict[str, str]

    @property
    def url(self) -> str:
        return self.broker.url

    def add_user(self, name: str) -> str:
        password = f"pw-{name}"
        self.accounts.set_password(name, password)
        self.broker.reload()
        self.passwords[name] = password
        return password


def support_listener(accounts: BrokerAccounts) -> str:
    return render_listener_auth(password_file=accounts.password_file, acl_file=accounts.acl_file)


@contextmanager
def running_support_broker(
    directory: Path, tls: ServerCertificate | None = None, *, extra_config: str = "", unbound_client_ids: bool = False
) -> Iterator[SupportBroker]:
    """``unbound_client_ids`` drops the rule binding client ids to accounts: the attack test's own control."""
    accounts = BrokerAccounts(directory / "broker", COLLECTOR_USER)
    # The listener's access rules exactly as ``homediag-collector broker config`` prints them.
    rules = support_listener(accounts)
    if unbound_client_ids:
        rules = rules.replace("use_username_as_clientid true\n", "")
    broker = Mosquitto(allow_anonymous=False, tls=tls, extra_config=rules + extra_config)
    support = SupportBroker(broker, accounts, {})
    try:
        support.add_user(COLLECTOR_USER)
        broker.start()
        yield support
    finally:
        broker.close()


@pytest.fixture(autouse=True)
def _live_code_never_blocks_the_loop(no_blocking_in_loop: None) -> None:
    """Every live test runs in the blocking-call test mode (``tests.blocking``)."""


@pytest.fixture
def support_broker(tmp_path: Path) -> Iterator[SupportBroker]:
    with running_support_broker(tmp_path) as support:
        yield support
