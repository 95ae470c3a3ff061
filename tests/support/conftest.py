"""The support-process tests drive the collector's API with the collector tests' fixtures."""

from tests.collector.conftest import collector, config_overrides

__all__ = ["collector", "config_overrides"]
