"""The agent's identity: an Ed25519 key pair and, once enrolled, the collector's answer.

Layout under ``<state_dir>/identity/`` (directory mode 0700):

- ``agent.key``: the private key, PEM (PKCS#8), mode 0600, written with ``write_atomically`` (created 0600 with
  ``O_EXCL``, fsynced, hard-linked into place): never readable by anyone else, not even for a moment, never
  half-written, and two agents starting at once end up with one key.
- ``enrollment.json``: agent id, household, pseudonym key, collector URL and time of enrolment, written
  atomically (temporary file, fsync, rename).

The functions here do blocking file I/O: call them from threads when inside an event loop.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, field_validator

from shared import signing
from shared.atomic_file import write_atomically
from shared.errors import HomediagError
from shared.live import LiveGrant

from .errors import AgentError, NotEnrolled

_LOGGER = logging.getLogger(__name__)

KEY_FILE = "agent.key"
ENROLLMENT_FILE = "enrollment.json"
PSEUDONYM_KEY_BYTES = 32


class IdentityError(AgentError):
    code = "identity_invalid"


class Enrollment(BaseModel):
    """What the collector said when this agent enrolled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: str
    household: str
    pseudonym_key: str
    collector_url: str
    enrolled_at: AwareDatetime
    live: LiveGrant | None = None  # support-broker credentials, when the collector offers live state

    @field_validator("pseudonym_key")
    @classmethod
    def _pseudonym_key_is_32_bytes(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise ValueError("pseudonym_key is not base64") from exc
        if len(raw) != PSEUDONYM_KEY_BYTES:
            raise ValueError(f"pseudonym_key must decode to {PSEUDONYM_KEY_BYTES} bytes")
        return value

    @property
    def pseudonym_key_bytes(self) -> bytes:
        return base64.b64decode(self.pseudonym_key)


def _ensure_private_dir(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != 0o700:
        directory.chmod(0o700)


def _create_key_file(path: Path) -> None:
    """Write a fresh key at ``path`` unless another process got there first (then keep theirs)."""
    with contextlib.suppress(FileExistsError):
        write_atomically(path, signing.private_key_to_pem(signing.generate_private_key()), replace=False)


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        _LOGGER.warning("%s was mode %o; restricting it to 0600", path, mode)
        path.chmod(0o600)
    pem = path.read_bytes()
    try:
        signing.check_private_key_pem(pem)
    except HomediagError as exc:
        raise IdentityError(f"{path} does not hold a valid Ed25519 private key: {exc}") from exc
    return pem


@dataclass
class Identity:
    """The key pair and, when enrolled, the enrolment record.

    The key file is checked when loaded but parsed at the first signature (``private_key``): the parse needs
    cryptography, which the running agent otherwise never imports until it bundles.
    """

    state_dir: Path
    private_key_pem: bytes = field(repr=False)
    enrollment: Enrollment | None
    _private_key: Any = field(default=None, init=False, repr=False)

    @property
    def directory(self) -> Path:
        return identity_dir(self.state_dir)

    @property
    def private_key(self) -> Any:
        if self._private_key is None:
            try:
                self._private_key = signing.private_key_from_pem(self.private_key_pem)
            except HomediagError as exc:
                raise IdentityError(
                    f"{self.directory / KEY_FILE} does not hold a valid Ed25519 private key: {exc}"
                ) from exc
        return self._private_key

    @property
    def public_key(self) -> Any:
        return self.private_key.public_key()

    @property
    def public_key_text(self) -> str:
        return signing.public_key_to_text(self.public_key)

    @property
    def key_id(self) -> str:
        return signing.key_id(self.public_key)

    @classmethod
    def load_or_create(cls, state_dir: Path) -> Identity:
        """Load the key pair, creating it on first start; load the enrolment if there is one."""
        directory = identity_dir(state_dir)
        _ensure_private_dir(directory)
        key_path = directory / KEY_FILE
        if not key_path.exists():
            _create_key_file(key_path)
            _LOGGER.info("created a new agent key in %s", key_path)
        return cls.load(state_dir)

    @classmethod
    def load(cls, state_dir: Path) -> Identity:
        """Load an existing key pair (and enrolment); ``IdentityError`` if the agent has no key yet."""
        directory = identity_dir(state_dir)
        key_path = directory / KEY_FILE
        if not key_path.exists():
            raise IdentityError(f"this agent has no key yet ({key_path} is missing)")
        return cls(
            state_dir=state_dir, private_key_pem=_read_key_file(key_path), enrollment=_read_enrollment(directory)
        )

    def require_enrollment(self) -> Enrollment:
        if self.enrollment is None:
            raise NotEnrolled(
                f"this agent is not enrolled yet (no {self.directory / ENROLLMENT_FILE}): "
                "run 'homediag-agent enroll --token TOKEN' first"
            )
        return self.enrollment

    def save_enrollment(self, enrollment: Enrollment) -> None:
        write_atomically(self.directory / ENROLLMENT_FILE, enrollment.model_dump_json(indent=2).encode())
        self.enrollment = enrollment


def identity_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "identity"


def _read_enrollment(directory: Path) -> Enrollment | None:
    path = directory / ENROLLMENT_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return Enrollment.model_validate_json(raw)
    except ValidationError as exc:
        raise IdentityError(f"{path} is damaged ({exc.errors()[0]['msg']}); enroll again") from exc
