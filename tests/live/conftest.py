"""A support broker configured by the project: password file + ACL from collector.live_broker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.live_broker import BrokerAccounts
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


@contextmanager
def running_support_broker(directory: Path, tls: ServerCertificate | None = None) -> Iterator[SupportBroker]:
    accounts = BrokerAccounts(directory / "broker", COLLECTOR_USER)
    broker = Mosquitto(
        allow_anonymous=False, tls=tls,
        extra_config=f"password_file {accounts.password_file}\nacl_file {accounts.acl_file}\n",
    )
    support = SupportBroker(broker, accounts, {})
    try:
        support.add_user(COLLECTOR_USER)
        broker.start()
        yield support
    finally:
        broker.close()


@pytest.fixture
def support_broker(tmp_path: Path) -> Iterator[SupportBroker]:
    with running_support_broker(tmp_path) as support:
        yield support
