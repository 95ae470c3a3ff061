"""Bundle ingest: the checks an upload must pass, in the order that keeps the work cheap for bad input.

1. size cap while streaming (413, ``bundle_too_large``);
2. safe archive read and a parseable, claimed manifest (400, ``unsafe_archive`` / ``manifest_invalid`` / …);
3. same bundle id already stored: same bytes → the stored record (200), different bytes → verified first, then 409;
4. the claimed agent must be enrolled and not revoked (403, ``agent_unknown`` / ``agent_revoked``), its
   household must match the manifest (403, ``household_mismatch``);
5. per-agent rate limit (429 + Retry-After);
6. DSSE signature against the enrolled key, then every member's hash (422, ``signature_invalid`` / ``hash_mismatch``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.bundle import OpenedBundle, ReadLimits, open_bundle
from shared.errors import BundleError, BundleTooLarge, SignatureError
from shared.models import BundleManifest, utcnow
from shared.signing import public_key_from_text

from .errors import BadRequest, CollectorError, Forbidden, PayloadTooLarge
from .models import AgentRecord, BundleRecord

UNVERIFIABLE_STATUS = 422  # well-formed, but the signature or a hash does not hold


@dataclass(frozen=True)
class Upload:
    data: bytes
    sha256: str
    opened: OpenedBundle

    @property
    def manifest(self) -> BundleManifest:
        """As claimed: trusted only after ``verify_upload``."""
        return self.opened.claimed


def as_collector_error(exc: BundleError) -> CollectorError:
    """A bundle reader's error as an API error with the same stable code."""
    if isinstance(exc, BundleTooLarge):
        return PayloadTooLarge(str(exc), code=exc.code)
    return BadRequest(str(exc), code=exc.code)


def open_upload(data: bytes, limits: ReadLimits) -> Upload:
    """Read the archive safely and return what it claims. Blocking (gunzip): run in a thread."""
    try:
        opened = open_bundle(data, limits)
    except BundleError as exc:
        raise as_collector_error(exc) from exc
    return Upload(data=data, sha256=hashlib.sha256(data).hexdigest(), opened=opened)


def check_agent(manifest: BundleManifest, agent: AgentRecord | None) -> AgentRecord:
    if agent is None:
        raise Forbidden(f"agent {manifest.agent_id} is not enrolled", code="agent_unknown")
    if agent.revoked_at is not None:
        raise Forbidden(f"agent {agent.agent_id} was revoked", code="agent_revoked")
    if agent.household != manifest.household:
        raise Forbidden("the manifest names another household than the agent's", code="household_mismatch")
    return agent


def verify_upload(upload: Upload, agent: AgentRecord) -> BundleRecord:
    """Signature first, then every hash; returns the record to store. Blocking: run in a thread."""
    try:
        verified = upload.opened.verify(public_key_from_text(agent.public_key))
    except SignatureError as exc:
        raise CollectorError(str(exc), code=exc.code, status=UNVERIFIABLE_STATUS) from exc
    except BundleError as exc:
        error = as_collector_error(exc)
        error.status = UNVERIFIABLE_STATUS
        raise error from exc
    manifest = verified.manifest
    return BundleRecord(
        bundle_id=str(manifest.bundle_id), agent_id=agent.agent_id, household=agent.household, sha256=upload.sha256,
        size=len(upload.data), created_at=manifest.created_at, received_at=utcnow(), trigger=manifest.trigger,
        window=manifest.window, key_id=agent.key_id,
    )
