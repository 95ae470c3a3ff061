"""The browser tests use the real SMTP server and webhook receiver of the delivery tests."""

from tests.collector.test_delivery import servers  # noqa: F401 - a fixture, found by pytest here
