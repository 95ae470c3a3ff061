"""Numbered schema migrations, applied at start on both backends: a database from before versions were kept, or
one a version behind, is brought to the newest; an up-to-date one is left alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from collector.config import CollectorConfig
from collector.store import Store, open_store
from shared.models import utcnow


def _versions(store: Store) -> list[int]:
    return [row[0] for row in store._conn.execute("SELECT version FROM schema_version ORDER BY version")]


def _config(tmp_path: Path, database: dict[str, Any]) -> CollectorConfig:
    return CollectorConfig.model_validate({"data_dir": str(tmp_path), **database})


def test_a_database_one_version_behind_gets_the_missing_migration(tmp_path: Path, database: dict[str, Any]) -> None:
    config = _config(tmp_path, database)
    store = open_store(config)
    try:
        newest = _versions(store)
        store._conn.execute("DROP TABLE rate_buckets")  # as version 1 left it
        store._conn.execute("DELETE FROM schema_version WHERE version >= 2")  # later ones are idempotent
    finally:
        store.close()
    store = open_store(config)
    try:
        assert _versions(store) == newest == list(range(1, len(newest) + 1))
        assert store._conn.execute("SELECT COUNT(*) FROM rate_buckets").fetchone()[0] == 0
    finally:
        store.close()


def test_an_sqlite_file_from_before_versions_were_kept_is_adopted(tmp_path: Path) -> None:
    config = _config(tmp_path, {})
    store = open_store(config)
    newest = _versions(store)
    try:
        store.create_enrol_token("hh-a", timedelta(days=1), utcnow())
        store._conn.execute("DROP TABLE schema_version")
        store._conn.execute("DROP TABLE rate_buckets")
    finally:
        store.close()
    store = open_store(config)
    try:
        assert _versions(store) == newest
        assert store.audit_log()[0]["action"] == "enrol_token.create"  # its data kept
    finally:
        store.close()
