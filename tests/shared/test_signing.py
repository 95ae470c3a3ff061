import base64

import pytest

from shared.errors import SignatureError
from shared.signing import (
    PAYLOAD_TYPE,
    generate_private_key,
    key_id,
    pae,
    private_key_from_pem,
    private_key_to_pem,
    public_key_from_text,
    public_key_to_text,
    sign_envelope,
    verify_envelope,
)


def test_pae_matches_the_dsse_spec_vector():
    assert pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_round_trip_and_key_serialisation():
    key = private_key_from_pem(private_key_to_pem(generate_private_key()))
    public = public_key_from_text(public_key_to_text(key.public_key()))
    envelope = sign_envelope(b'{"a": 1}', key)
    assert envelope["payloadType"] == PAYLOAD_TYPE
    assert envelope["signatures"][0]["keyid"] == key_id(public)
    assert verify_envelope(envelope, public) == b'{"a": 1}'


def test_wrong_key_tampered_payload_and_wrong_type_fail():
    key = generate_private_key()
    envelope = sign_envelope(b"payload", key)
    with pytest.raises(SignatureError):
        verify_envelope(envelope, generate_private_key().public_key())
    with pytest.raises(SignatureError):
        verify_envelope({**envelope, "payload": base64.b64encode(b"payloaD").decode()}, key.public_key())
    with pytest.raises(SignatureError):
        verify_envelope({**envelope, "payloadType": "text/plain"}, key.public_key())
    with pytest.raises(SignatureError):
        verify_envelope(b"not json", key.public_key())


def test_any_verifying_signature_is_accepted_keyid_ignored():
    key = generate_private_key()
    good = sign_envelope(b"x", key)["signatures"][0]
    bogus = sign_envelope(b"x", generate_private_key())["signatures"][0]
    envelope = {**sign_envelope(b"x", key), "signatures": [bogus, {**good, "keyid": "lies"}]}
    assert verify_envelope(envelope, key.public_key()) == b"x"


@pytest.mark.parametrize("text", ["", "!!!", base64.b64encode(b"short").decode()])
def test_garbage_public_key_text_is_a_clear_error(text):
    with pytest.raises(SignatureError):
        public_key_from_text(text)
