import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import SignatureError
from shared.signing import (
    PAYLOAD_TYPE,
    check_private_key_pem,
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
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


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


# RFC 8410 section 10.3, "Example Ed25519 private key" (PKCS#8 v1 as OpenSSL writes it).
RFC8410_PRIVATE_KEY = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC
-----END PRIVATE KEY-----
"""


def test_the_key_file_check_accepts_what_we_write_and_the_rfc_example():
    check_private_key_pem(RFC8410_PRIVATE_KEY)
    private_key_from_pem(RFC8410_PRIVATE_KEY)
    for _ in range(5):
        check_private_key_pem(private_key_to_pem(generate_private_key()))


def test_the_key_file_check_refuses_other_keys_and_damage():
    rsa_like = RFC8410_PRIVATE_KEY.replace(b"MC4CAQAw", b"MC4CAQEw")  # version 1: not what we write
    for data in (
        b"",
        b"garbage",
        RFC8410_PRIVATE_KEY[:-30],
        RFC8410_PRIVATE_KEY.replace(b"PRIVATE", b"PUBLIC"),
        RFC8410_PRIVATE_KEY.replace(b"MC4C", b"MC4*"),
        rsa_like,
    ):
        with pytest.raises(SignatureError):
            check_private_key_pem(data)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.tuples(st.integers(0, len(RFC8410_PRIVATE_KEY) - 1), st.integers(0, 255)).map(
            lambda flip: RFC8410_PRIVATE_KEY[: flip[0]] + bytes([flip[1]]) + RFC8410_PRIVATE_KEY[flip[0] + 1 :]
        ),
    )
)
def test_what_the_key_file_check_accepts_cryptography_parses(data: bytes):
    try:
        check_private_key_pem(data)
    except SignatureError:
        return
    private_key_from_pem(data)
