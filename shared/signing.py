"""Ed25519 signatures in a DSSE envelope (https://github.com/secure-systems-lab/dsse).

The signature covers the DSSE v1 pre-authentication encoding (PAE) of the payload
type and payload, never the envelope's JSON, so re-serialising the envelope cannot
change what was signed. ``keyid`` is a lookup hint only; trust comes from the key
the caller passes to :func:`verify_envelope`.

``cryptography`` (about 7 MB resident) is imported at the first key operation, not with this module: a hub
signs only when it bundles, and its steady state should not carry it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import TYPE_CHECKING, Any

from shared.errors import SignatureError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PAYLOAD_TYPE = "application/vnd.homediag.manifest+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``payload_type`` and ``payload``."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def generate_private_key() -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# PKCS#8 v1 DER of an Ed25519 private key: SEQUENCE { version 0, AlgorithmIdentifier { OID 1.3.101.112 },
# OCTET STRING { OCTET STRING (32 bytes) } }: what ``private_key_to_pem`` writes, always 48 bytes.
_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_PEM_BEGIN, _PEM_END = b"-----BEGIN PRIVATE KEY-----", b"-----END PRIVATE KEY-----"


def check_private_key_pem(data: bytes) -> None:
    """Raise SignatureError unless ``data`` is the PEM ``private_key_to_pem`` writes, without cryptography."""
    body = data.strip()
    if not (body.startswith(_PEM_BEGIN) and body.endswith(_PEM_END)):
        raise SignatureError("not a PEM private key")
    try:
        der = base64.b64decode(b"".join(body[len(_PEM_BEGIN) : -len(_PEM_END)].split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("the PEM private key is not valid base64") from exc
    if len(der) != len(_ED25519_PKCS8_PREFIX) + 32 or not der.startswith(_ED25519_PKCS8_PREFIX):
        raise SignatureError("not an Ed25519 private key in PKCS#8")


def private_key_from_pem(data: bytes) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


def _raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_to_text(public_key: Ed25519PublicKey) -> str:
    """Standard base64 of the raw 32-byte public key."""
    return base64.b64encode(_raw_public_bytes(public_key)).decode("ascii")


def public_key_from_text(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError, AttributeError) as exc:
        raise SignatureError("public key is not valid base64") from exc
    if len(raw) != 32:
        raise SignatureError(f"an Ed25519 public key is 32 bytes, this one decodes to {len(raw)}")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Hex sha256 of the raw public key: a hint for finding the key, never a trust decision."""
    return hashlib.sha256(_raw_public_bytes(public_key)).hexdigest()


def sign_envelope(payload: bytes, private_key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    signature = private_key.sign(pae(payload_type, payload))
    return {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [{"keyid": key_id(private_key.public_key()), "sig": base64.b64encode(signature).decode("ascii")}],
    }


def _b64decode(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise SignatureError(f"envelope {what} is not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"envelope {what} is not valid base64") from exc


def _parse_envelope(envelope: dict[str, Any] | bytes) -> dict[str, Any]:
    if isinstance(envelope, bytes | bytearray):
        try:
            envelope = json.loads(envelope)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SignatureError("envelope is not JSON") from exc
    if not isinstance(envelope, dict):
        raise SignatureError("envelope is not a JSON object")
    return envelope


def verify_envelope(
    envelope: dict[str, Any] | bytes, public_key: Ed25519PublicKey, payload_type: str = PAYLOAD_TYPE
) -> bytes:
    """Return the payload if any signature verifies with ``public_key``; raise SignatureError otherwise."""
    from cryptography.exceptions import InvalidSignature

    envelope = _parse_envelope(envelope)
    if envelope.get("payloadType") != payload_type:
        raise SignatureError(f"envelope payloadType is {envelope.get('payloadType')!r}, expected {payload_type!r}")
    payload = _b64decode(envelope.get("payload"), "payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise SignatureError("envelope has no signatures")
    message = pae(payload_type, payload)
    for entry in signatures:
        if not isinstance(entry, dict):
            raise SignatureError("envelope signature entry is not an object")
        signature = _b64decode(entry.get("sig"), "signature")
        try:
            public_key.verify(signature, message)
        except InvalidSignature:
            continue
        return payload
    raise SignatureError("no signature in the envelope verifies with the agent's key")
