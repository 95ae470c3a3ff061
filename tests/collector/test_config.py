"""The collector's configuration: what a support server needs beyond a hub's install is named at start."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from collector.config import load_config
from collector.errors import ConfigError


@pytest.mark.parametrize(
    ("variable", "value", "module"),
    [
        ("HOMEDIAG_COLLECTOR_DATABASE_URL", "postgresql://homediag@db.invalid/homediag", "psycopg"),
        ("HOMEDIAG_COLLECTOR_BLOBS_URL", "s3://bundles/homediag", "boto3"),
    ],
)
def test_a_backend_whose_driver_is_not_installed_is_refused_with_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # how Python marks a module as not importable
    with pytest.raises(
        ConfigError, match=rf"needs {module}, which is not installed: pip install 'homediag\[collector\]'"
    ):
        load_config(tmp_path, environ={variable: value})


def test_a_backend_whose_driver_is_installed_is_accepted(tmp_path: Path) -> None:
    config = load_config(
        tmp_path,
        environ={
            "HOMEDIAG_COLLECTOR_DATABASE_URL": "postgresql://homediag@db.invalid/homediag",
            "HOMEDIAG_COLLECTOR_BLOBS_URL": "s3://bundles/homediag",
        },
    )
    assert config.database_url is not None and config.blob_location.s3 is not None


def test_the_default_collector_needs_neither_driver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for module in ("psycopg", "boto3"):
        monkeypatch.setitem(sys.modules, module, None)
    config = load_config(tmp_path, environ={})
    assert config.database_url is None and config.blob_location.s3 is None
