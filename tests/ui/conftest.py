"""The desk walk sends its notifications to the delivery tests' SMTP and webhook servers."""

from tests.collector.test_delivery import servers

__all__ = ["servers"]
