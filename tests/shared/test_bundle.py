import dataclasses
import gzip
import io
import json
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.bundle import (
    ENVELOPE_NAME,
    MANIFEST_NAME,
    WHOLE_INFLATE_BYTES,
    ReadLimits,
    build_bundle,
    open_bundle,
    peek_manifest,
    read_bundle,
)
from shared.errors import BundleError, BundleTooLarge, HashMismatch, ManifestError, SignatureError, UnsafeArchive
from shared.models import CaptureWindow, EventState, RedactionSummary, Trigger, TriggerKind
from shared.signing import generate_private_key, public_key_to_text

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FILES = {
    "timeline.jsonl": b'{"ts": "2026-11-24T11:00:00Z", "kind": "gateway", "state": "down", "source": "monitor.gateway"}\n',
    "host.json": b'{"os": "linux"}',
    "logs/agent.log": b"started\n",
}
KEY = generate_private_key()


def build(files=FILES, **overrides):
    arguments = dict(
        files=files,
        agent_id="agent-1",
        household="hh-1",
        trigger=Trigger(kind=TriggerKind.MANUAL),
        window=CaptureWindow(start=NOW, end=NOW),
        redaction=RedactionSummary(replaced={"mac": 2}),
        private_key=KEY,
        created_at=NOW,
    )
    return build_bundle(**(arguments | overrides))


def members_of(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return [(info, archive.extractfile(info).read()) for info in archive]


def retar(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, content in members:
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def test_round_trip_member_order_and_determinism():
    manifest, data = build()
    verified = read_bundle(data, KEY.public_key())
    assert verified.manifest == manifest
    assert verified.files == FILES
    assert verified.timeline()[0].state is EventState.DOWN
    assert verified.json("host.json") == {"os": "linux"}
    infos = [info for info, _ in members_of(data)]
    assert [i.name for i in infos] == [ENVELOPE_NAME, MANIFEST_NAME, "host.json", "logs/agent.log", "timeline.jsonl"]
    assert {(i.mode, i.uid, i.gid, i.mtime) for i in infos} == {(0o644, 0, 0, int(NOW.timestamp()))}
    assert build(bundle_id=manifest.bundle_id)[1] == data


def test_claimed_manifest_is_available_before_verification():
    _, data = build()
    assert open_bundle(data).claimed.agent_id == "agent-1"


def test_verify_answers_with_the_signed_manifest_not_the_claimed_one():
    """The claimed manifest is reused only when the signed payload is the very bytes it was parsed from."""
    _, data = build()
    other_manifest, other = build(household="hh-2")
    opened, swapped = open_bundle(data), open_bundle(other)
    assert opened.verify(KEY.public_key()).manifest is opened.claimed
    mixed = dataclasses.replace(
        opened, envelope=swapped.envelope, raw_manifest=swapped.raw_manifest, members=swapped.members
    )
    verified = mixed.verify(KEY.public_key())
    assert verified.manifest == other_manifest and verified.manifest != opened.claimed


def test_wrong_key_fails():
    _, data = build()
    with pytest.raises(SignatureError):
        read_bundle(data, generate_private_key().public_key())


@pytest.mark.parametrize("name", [*sorted(FILES), MANIFEST_NAME, ENVELOPE_NAME])
def test_one_flipped_byte_in_any_member_fails(name):
    _, data = build()
    members = members_of(data)
    tampered = []
    for info, content in members:
        if info.name == name:
            if name == ENVELOPE_NAME:
                envelope = json.loads(content)
                sig = bytearray(envelope["signatures"][0]["sig"].encode())
                sig[5] = ord("A") if sig[5] != ord("A") else ord("B")
                envelope["signatures"][0]["sig"] = sig.decode()
                content = json.dumps(envelope).encode()
            else:
                content = bytes([content[0] ^ 1]) + content[1:]
            info.size = len(content)
        tampered.append((info, content))
    expected = {ENVELOPE_NAME: SignatureError, MANIFEST_NAME: ManifestError}.get(name, HashMismatch)
    with pytest.raises(expected):
        read_bundle(retar(tampered), KEY.public_key())


def _file(name, content=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(content)
    return info, content


def _special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


@pytest.mark.parametrize(
    "member",
    [
        _file("../x"),
        _file("logs/../../x"),
        _file("/etc/x"),
        _special("link", tarfile.SYMTYPE, "/etc/passwd"),
        _special("hard", tarfile.LNKTYPE, "host.json"),
        _special("dev", tarfile.CHRTYPE),
        _special("fifo", tarfile.FIFOTYPE),
        _special("logs", tarfile.DIRTYPE),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "device", "fifo", "directory"],
)
def test_unsafe_members_are_refused(member):
    _, data = build()
    with pytest.raises(UnsafeArchive):
        open_bundle(retar([*members_of(data), member]))


def test_duplicate_name_is_refused():
    _, data = build()
    with pytest.raises(UnsafeArchive):
        open_bundle(retar([*members_of(data), _file("host.json", b'{"os": "evil"}')]))


def test_unlisted_member_is_refused_on_verify():
    _, data = build()
    with pytest.raises(ManifestError):
        read_bundle(retar([*members_of(data), _file("extra.txt")]), KEY.public_key())


def test_missing_listed_member_is_refused():
    _, data = build()
    members = [(i, c) for i, c in members_of(data) if i.name != "host.json"]
    with pytest.raises(ManifestError):
        read_bundle(retar(members), KEY.public_key())


def test_gzip_bomb_stops_early():
    size = 1024**3
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as compressed:
        info = tarfile.TarInfo("timeline.jsonl")
        info.size = size
        compressed.write(info.tobuf(format=tarfile.PAX_FORMAT))
        chunk = bytes(1024 * 1024)
        for _ in range(size // len(chunk)):
            compressed.write(chunk)
        compressed.write(bytes(1024))
    with pytest.raises(BundleTooLarge):
        open_bundle(buffer.getvalue(), ReadLimits(max_uncompressed_bytes=1024 * 1024, max_member_bytes=1024 * 1024))


def test_many_small_members_exceed_the_running_total():
    members = [_file(f"f{i}", bytes(1000)) for i in range(50)]
    with pytest.raises(BundleTooLarge):
        open_bundle(retar(members), ReadLimits(max_uncompressed_bytes=10_000))
    with pytest.raises(BundleTooLarge):
        open_bundle(retar(members), ReadLimits(max_members=10))


def test_archive_size_limit():
    _, data = build()
    with pytest.raises(BundleTooLarge):
        open_bundle(data, ReadLimits(max_archive_bytes=len(data) - 1))


def test_truncated_and_non_gzip_input():
    _, data = build()
    with pytest.raises(BundleError):
        open_bundle(data[: len(data) // 2])
    with pytest.raises(BundleError):
        open_bundle(b"this is not gzip")


def test_missing_envelope_and_bad_names_on_build():
    _, data = build()
    with pytest.raises(ManifestError):
        open_bundle(retar([(i, c) for i, c in members_of(data) if i.name != ENVELOPE_NAME]))
    for name in ("../x", "/abs", "a\\b", MANIFEST_NAME):
        with pytest.raises(BundleError):
            build({name: b"x"})


def test_the_documented_shell_recipe_verifies_and_rejects(tmp_path):
    script = Path(__file__).resolve().parents[2] / "scripts" / "verify-bundle.sh"
    _, data = build()
    good = tmp_path / "good.tar.gz"
    good.write_bytes(data)
    public = public_key_to_text(KEY.public_key())
    result = subprocess.run([str(script), str(good), public], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "bundle verified" in result.stdout
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(retar([(i, c if i.name != "host.json" else b'{"os": "linuX"}') for i, c in members_of(data)]))
    assert subprocess.run([str(script), str(bad), public], capture_output=True, timeout=60).returncode != 0
    other = public_key_to_text(generate_private_key().public_key())
    assert subprocess.run([str(script), str(good), other], capture_output=True, timeout=60).returncode != 0


def test_huge_pax_header_is_stopped_by_the_decompressed_byte_count():
    # tarfile reads a pax header's records whole, before any member check can run:
    # only counting inflated bytes stops this one.
    size = 256 * 1024 * 1024
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = size
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as compressed:
        compressed.write(header.tobuf(format=tarfile.USTAR_FORMAT))
        chunk = bytes(1024 * 1024)
        for _ in range(size // len(chunk)):
            compressed.write(chunk)
    with pytest.raises(BundleTooLarge):
        open_bundle(buffer.getvalue(), ReadLimits(max_uncompressed_bytes=1024 * 1024))


def test_the_peek_reads_pax_and_concatenated_archives_as_the_general_reader_does():
    """The peek's plain-header shortcut and the whole-archive inflating give way to the streaming reader for
    what they do not handle, with the same answer."""
    manifest, data = build()
    members = members_of(data)
    pax = io.BytesIO()
    with tarfile.open(fileobj=pax, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, content in members:
            info.pax_headers = {"comment": "written by another tar"}
            archive.addfile(info, io.BytesIO(content))
    raw = pax.getvalue()
    half = len(raw) // 2
    for variant in (gzip.compress(raw), gzip.compress(raw[:half]) + gzip.compress(raw[half:])):
        assert peek_manifest(variant) == manifest
        assert read_bundle(variant, KEY.public_key()).files == FILES


def test_an_archive_larger_than_one_inflate_is_streamed():
    big = {**FILES, "logs/agent.log": bytes(WHOLE_INFLATE_BYTES + 1)}
    _, data = build(files=big)
    assert read_bundle(data, KEY.public_key()).files == big
    with pytest.raises(BundleTooLarge):
        open_bundle(data, ReadLimits(max_member_bytes=WHOLE_INFLATE_BYTES))
