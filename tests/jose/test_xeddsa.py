"""XEdDSA: signatures by X25519 keys (Nebula tokens); verification is independent
Ed25519 (``cryptography``) after the Montgomery-to-Edwards map."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.jose import InvalidToken, UnverifiedToken, sign_xeddsa, xeddsa


def public_key_of_another_kind() -> ed25519.Ed25519PublicKey:
    return ed25519.Ed25519PrivateKey.generate().public_key()


def _pair() -> tuple[bytes, bytes]:
    key = X25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    return private, key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_signatures_verify_and_tampering_is_caught() -> None:
    for _ in range(8):  # both signs of the Edwards point occur
        private, public = _pair()
        signature = xeddsa.sign(private, b"message")
        assert xeddsa.verify(public, signature, b"message")
        assert not xeddsa.verify(public, signature, b"massage")
        assert not xeddsa.verify(_pair()[1], signature, b"message")
        assert not xeddsa.verify(public, signature[:63] + bytes([signature[63] | 0x80]), b"message")
        assert not xeddsa.verify(public, signature[:-1], b"message")


def test_jws_with_xeddsa_is_parsed_only_on_request() -> None:
    private, public = _pair()
    token = sign_xeddsa({"sub": "host"}, private, {"nebula": "x"})
    parsed = UnverifiedToken.parse(token, allow_special=True)
    assert parsed.verify_xeddsa(public) == {"sub": "host"}
    with pytest.raises(InvalidToken, match="algorithm"):
        UnverifiedToken.parse(token)
    with pytest.raises(InvalidToken, match="XEdDSA"):
        parsed.verify(public_key_of_another_kind())
