"""The shared package's exceptions.

Every error that can cross the wire carries a stable ``code`` that the collector
returns in its JSON error body and the agent prints on stderr.
"""

from __future__ import annotations


class HomediagError(Exception):
    """Base of every error raised by homediag's shared code."""

    code = "homediag_error"


class BundleError(HomediagError):
    """A bundle could not be built or read."""

    code = "bundle_invalid"


class UnsafeArchive(BundleError):
    """The archive holds something a reader must never extract."""

    code = "unsafe_archive"


class BundleTooLarge(BundleError):
    """The archive (or its uncompressed content) exceeds the configured limit."""

    code = "bundle_too_large"


class ManifestError(BundleError):
    """The manifest is missing, malformed or disagrees with the archive."""

    code = "manifest_invalid"


class SignatureError(BundleError):
    """The DSSE envelope's signature does not verify."""

    code = "signature_invalid"


class HashMismatch(BundleError):
    """A member's bytes do not match the sha256 or size in the manifest."""

    code = "hash_mismatch"


class RedactionError(BundleError):
    """A file could not be redacted safely (e.g. binary content of an unknown kind)."""

    code = "redaction_failed"
