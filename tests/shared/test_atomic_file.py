"""The one crash-safe write: complete or absent, fsynced (file and directory), private by default."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.live import Consent, ConsentStore
from shared.atomic_file import TMP_PREFIX, write_atomically


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomically(target, b"one")
    write_atomically(target, b"two")
    assert target.read_bytes() == b"two"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_an_existing_file_wins_without_replace(tmp_path: Path) -> None:
    target = tmp_path / "agent.key"
    write_atomically(target, b"theirs", replace=False)
    with pytest.raises(FileExistsError):
        write_atomically(target, b"ours", replace=False)
    assert target.read_bytes() == b"theirs"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_the_requested_mode_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "public.txt"
    old_umask = os.umask(0o022)
    try:
        write_atomically(target, b"x", mode=0o644)
    finally:
        os.umask(old_umask)
    assert _mode(target) == 0o644


def test_file_and_directory_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the directory's fsync, a power cut after the rename may bring the old file back."""
    synced: list[bool] = []  # per fsync: was it a directory?
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_atomically(tmp_path / "f", b"data")
    assert synced == [False, True]


def test_the_consent_file_is_private(tmp_path: Path) -> None:
    store = ConsentStore(tmp_path, "ask")
    store.set(Consent("allowed"))
    assert _mode(store.path) == 0o600
    assert store.current() == Consent("allowed")
