from __future__ import annotations

import json

import pytest

from appliance.jose import DecryptionFailed, decrypt, decrypt_jwk, encrypt, encrypt_jwk, generate_jwk
from appliance.jose.b64 import b64decode
from appliance.jose.jwe import DEFAULT_ITERATIONS, parse_header

FAST = 1000  # tests use a small work factor except where the default is the point


def test_encrypted_key_header_matches_step() -> None:
    key = generate_jwk()
    jwe = encrypt_jwk(key, b"password")
    header = parse_header(jwe)
    assert header["alg"] == "PBES2-HS256+A128KW"
    assert header["enc"] == "A256GCM"
    assert header["cty"] == "jwk+json"
    assert header["p2c"] == DEFAULT_ITERATIONS == 600_000
    assert len(b64decode(header["p2s"])) == 16
    assert sorted(header) == ["alg", "cty", "enc", "p2c", "p2s"]
    parts = jwe.split(".")
    assert len(parts) == 5
    assert len(b64decode(parts[1])) == 40  # AES-KW of a 256-bit CEK
    assert len(b64decode(parts[2])) == 12 and len(b64decode(parts[4])) == 16


def test_jwk_round_trip() -> None:
    key = generate_jwk("OKP")
    restored = decrypt_jwk(encrypt_jwk(key, b"s3cret", iterations=FAST), b"s3cret")
    assert restored.thumbprint() == key.thumbprint()
    assert restored.export(as_dict=True) == key.export(as_dict=True)


def test_wrong_password_refused() -> None:
    jwe = encrypt(b"data", b"right", iterations=FAST)
    with pytest.raises(DecryptionFailed, match="wrong password"):
        decrypt(jwe, b"wrong")


def test_tampered_ciphertext_refused() -> None:
    parts = encrypt(b"some data here", b"pw", iterations=FAST).split(".")
    parts[3] = ("B" if parts[3][0] != "B" else "C") + parts[3][1:]
    with pytest.raises(DecryptionFailed):
        decrypt(".".join(parts), b"pw")


def test_interoperates_with_jwcrypto() -> None:
    """An independent implementation decrypts ours and we decrypt its output."""
    from jwcrypto import jwe as jw, jwk

    password = jwk.JWK.from_password("pw")
    ours = encrypt(b"hello", b"pw", content_type="jwk+json", iterations=FAST)
    theirs_reader = jw.JWE()
    theirs_reader.deserialize(ours, key=password)
    assert theirs_reader.payload == b"hello"

    theirs = jw.JWE(b"world", json.dumps({"alg": "PBES2-HS256+A128KW", "enc": "A256GCM", "p2c": FAST}))
    theirs.add_recipient(password)
    assert decrypt(theirs.serialize(compact=True), b"pw") == b"world"


@pytest.mark.parametrize("bad", ["", "a.b.c", "x.y.z.w.v", "e30.AA.AA.AA.AA"])
def test_malformed_refused(bad: str) -> None:
    with pytest.raises(DecryptionFailed):
        decrypt(bad, b"pw")


def test_absurd_iteration_count_refused() -> None:
    jwe = encrypt(b"x", b"pw", iterations=FAST)
    header = parse_header(jwe)
    assert header["p2c"] == FAST
    with pytest.raises(DecryptionFailed, match="p2c"):
        decrypt(encrypt(b"x", b"pw", iterations=10), b"pw")
