"""The diagnostic bundle: a deterministic tar.gz with a DSSE-signed manifest.

Members, in order: ``manifest.dsse.json`` (the envelope), ``manifest.json`` (the
very same payload bytes, for humans), then every file the manifest lists, sorted.
Reading never touches the disk: the archive is streamed from memory, every member
header is checked before its bytes are read, and decompressed bytes are counted as
they come so a gzip bomb stops at the limit. See docs/bundle-format.md.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import uuid
import zlib
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared.errors import BundleError, BundleTooLarge, HashMismatch, ManifestError, UnsafeArchive
from shared.models import (
    BundleManifest,
    CaptureWindow,
    ManifestFile,
    RedactionSummary,
    TimelineEvent,
    Trigger,
    utcnow,
)
from shared.signing import sign_envelope, verify_envelope

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ENVELOPE_NAME = "manifest.dsse.json"
MANIFEST_NAME = "manifest.json"
RESERVED_NAMES = frozenset({ENVELOPE_NAME, MANIFEST_NAME})
TIMELINE_NAME = "timeline.jsonl"

_MiB = 1024 * 1024
_TAR_BLOCK = 512
# Archives that inflate to at most this are inflated in one call when read whole (most bundles: the stream layers
# cost more than the inflating); larger ones are streamed, so a bomb's oversized member is refused at its header.
WHOLE_INFLATE_BYTES = 4 * _MiB


@dataclass(frozen=True)
class ReadLimits:
    max_archive_bytes: int = 64 * _MiB
    max_uncompressed_bytes: int = 256 * _MiB
    max_members: int = 2000
    max_member_bytes: int = 64 * _MiB


def check_member_name(name: str, error: type[BundleError] = UnsafeArchive) -> None:
    """Refuse names a reader could be tricked by: absolute, ``..``, backslash, NUL, empty parts."""
    if not name or "\x00" in name or "\\" in name:
        raise error(f"unsafe member name {name!r}")
    if name.startswith("/"):
        raise error(f"absolute member name {name!r}")
    parts = name.split("/")
    if ".." in parts:
        raise error(f"member name {name!r} climbs out with '..'")
    if any(part in ("", ".") for part in parts):
        raise error(f"member name {name!r} has an empty or '.' component")


def manifest_bytes(manifest: BundleManifest) -> bytes:
    return json.dumps(manifest.model_dump(mode="json"), sort_keys=True, indent=2).encode("utf-8") + b"\n"


def _tar_member(name: str, data: bytes, mtime: float) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, io.BytesIO(data)


def build_bundle(
    *,
    files: Mapping[str, bytes],
    agent_id: str,
    household: str,
    trigger: Trigger,
    window: CaptureWindow,
    redaction: RedactionSummary,
    private_key: Ed25519PrivateKey,
    bundle_id: uuid.UUID | None = None,
    created_at: datetime | None = None,
) -> tuple[BundleManifest, bytes]:
    """Sign a manifest over ``files`` and return it with the .tar.gz bytes."""
    for name in files:
        check_member_name(name, BundleError)
        if name in RESERVED_NAMES:
            raise BundleError(f"{name!r} is reserved for the bundle's own manifest")
    created_at = created_at or utcnow()
    names = sorted(files)
    manifest = BundleManifest(
        bundle_id=bundle_id or uuid.uuid4(),
        agent_id=agent_id,
        household=household,
        created_at=created_at,
        trigger=trigger,
        window=window,
        files=[
            ManifestFile(path=name, sha256=hashlib.sha256(files[name]).hexdigest(), size=len(files[name]))
            for name in names
        ],
        redaction=redaction,
    )
    payload = manifest_bytes(manifest)
    envelope = json.dumps(sign_envelope(payload, private_key), sort_keys=True, indent=2).encode("utf-8") + b"\n"
    mtime = created_at.timestamp()
    members = [(ENVELOPE_NAME, envelope), (MANIFEST_NAME, payload)] + [(name, files[name]) for name in names]
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=int(mtime)) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, data in members:
            archive.addfile(*_tar_member(name, data, mtime))
    return manifest, buffer.getvalue()


@dataclass(frozen=True)
class VerifiedBundle:
    manifest: BundleManifest
    files: dict[str, bytes]

    def json(self, path: str) -> Any:
        try:
            return json.loads(self.files[path])
        except KeyError as exc:
            raise ManifestError(f"the bundle has no {path!r}") from exc
        except ValueError as exc:
            raise BundleError(f"{path!r} is not valid JSON: {exc}") from exc

    def timeline(self) -> list[TimelineEvent]:
        data = self.files.get(TIMELINE_NAME)
        if data is None:
            return []
        events = []
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                events.append(TimelineEvent.model_validate_json(line))
            except ValidationError as exc:
                raise BundleError(f"{TIMELINE_NAME} line {number} is not a timeline event: {exc}") from exc
        return events


def _parse_manifest(payload: bytes) -> BundleManifest:
    try:
        return BundleManifest.model_validate_json(payload)
    except ValidationError as exc:
        raise ManifestError(f"the manifest does not match the manifest model: {exc}") from exc


@dataclass(frozen=True)
class OpenedBundle:
    """An archive read safely but not yet verified: ``claimed`` (parsed from ``claimed_payload``, the envelope's
    payload) must not be trusted."""

    envelope: dict[str, Any]
    claimed: BundleManifest
    members: dict[str, bytes]
    raw_manifest: bytes
    claimed_payload: bytes

    def verify(self, public_key: Ed25519PublicKey) -> VerifiedBundle:
        payload = verify_envelope(self.envelope, public_key)
        if self.raw_manifest != payload:
            raise ManifestError(f"{MANIFEST_NAME} differs from the signed manifest")
        # The signed payload is, as a rule, the very bytes ``claimed`` was parsed from: the same model, parsed once.
        manifest = self.claimed if payload == self.claimed_payload else _parse_manifest(payload)
        listed = [entry.path for entry in manifest.files]
        if len(set(listed)) != len(listed):
            raise ManifestError("the manifest lists a file twice")
        files: dict[str, bytes] = {}
        for entry in manifest.files:
            data = self.members.get(entry.path)
            if data is None:
                raise ManifestError(f"the manifest lists {entry.path!r} but the archive lacks it")
            if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
                raise HashMismatch(f"{entry.path!r} does not match its sha256/size in the manifest")
            files[entry.path] = data
        unlisted = sorted(set(self.members) - set(listed) - RESERVED_NAMES)
        if unlisted:
            raise ManifestError(f"the archive holds files the manifest does not list: {unlisted}")
        return VerifiedBundle(manifest=manifest, files=files)


class _CountingReader(io.RawIOBase):
    """Decompresses lazily and refuses to hand out more than ``budget`` bytes."""

    def __init__(self, stream: gzip.GzipFile, budget: int) -> None:
        self._stream = stream
        self._budget = budget
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        want = min(len(view), self._budget - self.count + 1)
        chunk = self._stream.read(want)
        self.count += len(chunk)
        if self.count > self._budget:
            raise BundleTooLarge(f"the archive decompresses to more than {self._budget} bytes")
        view[: len(chunk)] = chunk
        return len(chunk)


def _check_header(info: tarfile.TarInfo) -> None:
    check_member_name(info.name)
    if info.issym() or info.islnk():
        raise UnsafeArchive(f"member {info.name!r} is a link")
    if not info.isreg():
        raise UnsafeArchive(f"member {info.name!r} is not a regular file")


def _gunzip(data: bytes, budget: int) -> bytes | None:
    """The whole gzip stream (member after member, as ``gzip`` reads them) when it inflates to at most ``budget``
    bytes; None, after inflating no more than that, when it is larger (the streaming reader then reads it,
    refusing oversized members at their headers)."""
    parts: list[bytes] = []
    total, rest = 0, data
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        part = inflater.decompress(rest, budget - total + 1)
        total += len(part)
        if total > budget:
            return None
        if not inflater.eof:
            raise EOFError("the compressed stream ends before its end-of-stream marker")
        parts.append(part)
        rest = inflater.unused_data
    return b"".join(parts)


def _iter_members(
    data: bytes, limits: ReadLimits, buffer_size: int = 64 * 1024, *, whole: bool = False
) -> Generator[tuple[str, bytes], None, None]:
    """Members in archive order, each header checked before its bytes are read. ``whole``: all will be read."""
    # Headers, padding and pax records come on top of the content limit.
    overhead = _TAR_BLOCK * (3 * limits.max_members + 64)
    budget = limits.max_uncompressed_bytes + overhead
    inflated = _gunzip(data, min(budget, WHOLE_INFLATE_BYTES)) if whole else None
    if inflated is not None:
        source: io.BufferedIOBase = io.BytesIO(inflated)  # no stream layers in between
    else:
        reader = _CountingReader(gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb"), budget)
        source = io.BufferedReader(reader, buffer_size=buffer_size)
    count = declared_total = 0
    with tarfile.open(fileobj=source, mode="r|", bufsize=buffer_size) as archive:
        for info in archive:
            count += 1
            if count > limits.max_members:
                raise BundleTooLarge(f"the archive holds more than {limits.max_members} members")
            _check_header(info)
            if info.size > limits.max_member_bytes:
                raise BundleTooLarge(f"member {info.name!r} declares {info.size} bytes, over the limit")
            declared_total += info.size
            if declared_total > limits.max_uncompressed_bytes:
                raise BundleTooLarge(f"the archive's members exceed {limits.max_uncompressed_bytes} bytes")
            member = archive.extractfile(info)
            content = member.read() if member is not None else b""
            if len(content) != info.size:
                raise BundleError(f"member {info.name!r} is truncated")
            yield info.name, content


def _read_members(data: bytes, limits: ReadLimits) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    for name, content in _iter_members(data, limits, whole=True):
        if name in members:
            raise UnsafeArchive(f"member {name!r} appears twice")
        members[name] = content
    return members


_ARCHIVE_ERRORS = (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError, OSError)


def _claimed(envelope_bytes: bytes) -> tuple[dict[str, Any], bytes, BundleManifest]:
    """The envelope, its payload and the manifest the payload claims."""
    try:
        envelope = json.loads(envelope_bytes)
        payload = base64.b64decode(envelope["payload"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{ENVELOPE_NAME} is not a DSSE envelope: {exc}") from exc
    return envelope, payload, _parse_manifest(payload)


def _plain_first_member(data: bytes, limits: ReadLimits) -> tuple[str, bytes] | None:
    """The first member when it is a plain ustar file (what ``build_bundle`` writes), gunzipped only as far as
    it reaches, without the stream layers of the general reader; None for anything else (pax or GNU headers,
    damage, a member over the limit): the general reader then decides, and refuses what it must."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        header = inflater.decompress(data, _TAR_BLOCK)
        info = tarfile.TarInfo.frombuf(header, tarfile.ENCODING, "surrogateescape")
    except (zlib.error, tarfile.TarError):
        return None
    if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or not 0 <= info.size <= limits.max_member_bytes:
        return None
    try:
        content = inflater.decompress(inflater.unconsumed_tail, info.size) if info.size else b""
    except zlib.error:
        return None
    return (info.name, content) if len(content) == info.size else None


def peek_manifest(data: bytes, limits: ReadLimits = ReadLimits()) -> BundleManifest:
    """What the archive claims, from its first member only: cheap, for routing before full verification.

    Never trust the result: ``open_bundle(...).verify(key)`` decides.
    """
    if len(data) > limits.max_archive_bytes:
        raise BundleTooLarge(f"the archive is {len(data)} bytes, the limit is {limits.max_archive_bytes}")
    plain = _plain_first_member(data, limits)
    if plain is not None and plain[0] == ENVELOPE_NAME:
        return _claimed(plain[1])[2]
    members = _iter_members(data, limits, buffer_size=_TAR_BLOCK * 4)  # decompress little beyond the envelope
    try:
        name, content = next(members)
    except StopIteration:
        raise ManifestError(f"the bundle is empty; {ENVELOPE_NAME} must come first") from None
    except _ARCHIVE_ERRORS as exc:
        raise BundleError(f"not a readable tar.gz bundle: {exc}") from exc
    finally:
        members.close()
    if name != ENVELOPE_NAME:
        raise ManifestError(f"{ENVELOPE_NAME} must be the archive's first member, not {name!r}")
    return _claimed(content)[2]


def open_bundle(data: bytes, limits: ReadLimits = ReadLimits()) -> OpenedBundle:
    """Read an archive from memory, refusing anything unsafe; the result is NOT verified."""
    if len(data) > limits.max_archive_bytes:
        raise BundleTooLarge(f"the archive is {len(data)} bytes, the limit is {limits.max_archive_bytes}")
    try:
        members = _read_members(data, limits)
    except _ARCHIVE_ERRORS as exc:
        raise BundleError(f"not a readable tar.gz bundle: {exc}") from exc
    if ENVELOPE_NAME not in members:
        raise ManifestError(f"the bundle has no {ENVELOPE_NAME}")
    if MANIFEST_NAME not in members:
        raise ManifestError(f"the bundle has no {MANIFEST_NAME}")
    envelope, claimed_payload, claimed = _claimed(members.pop(ENVELOPE_NAME))
    raw_manifest = members.pop(MANIFEST_NAME)
    return OpenedBundle(
        envelope=envelope,
        claimed=claimed,
        members=members,
        raw_manifest=raw_manifest,
        claimed_payload=claimed_payload,
    )


def read_bundle(data: bytes, public_key: Ed25519PublicKey, limits: ReadLimits = ReadLimits()) -> VerifiedBundle:
    return open_bundle(data, limits).verify(public_key)
