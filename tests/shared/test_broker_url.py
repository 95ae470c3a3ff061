"""Broker URLs: the clear and TLS, default ports, and a readable refusal."""

from __future__ import annotations

import pytest

from shared.broker_url import BrokerAddress, parse_broker_url


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("mqtt://10.0.0.2", BrokerAddress("10.0.0.2", 1883, tls=False)),
        ("mqtt://broker.lan:1884", BrokerAddress("broker.lan", 1884, tls=False)),
        ("mqtts://support.example.net", BrokerAddress("support.example.net", 8883, tls=True)),
        ("ssl://127.0.0.1:9883", BrokerAddress("127.0.0.1", 9883, tls=True)),
    ],
)
def test_urls_and_default_ports(url: str, address: BrokerAddress) -> None:
    assert parse_broker_url(url) == address


@pytest.mark.parametrize("url", ["http://broker", "mqtt://", "broker:1883", "mqtt://host:99999", "mqtt://host:port"])
def test_what_is_not_a_broker_url_says_what_one_looks_like(url: str) -> None:
    with pytest.raises(ValueError, match="mqtts://host:port"):
        parse_broker_url(url)
