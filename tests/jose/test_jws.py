from __future__ import annotations

import base64
import json

import pytest

from appliance.jose import InvalidToken, UnverifiedToken, generate_jwk, sign


@pytest.mark.parametrize(("kty", "crv", "alg"), [
    ("EC", None, "ES256"), ("EC", "P-384", "ES384"), ("RSA", None, "RS256"), ("RSA", None, "PS256"), ("OKP", None, "EdDSA"),
])
def test_sign_verify(kty: str, crv: str | None, alg: str) -> None:
    key = generate_jwk(kty, crv=crv)
    token = sign({"sub": "x", "n": 1}, key, alg=alg)
    parsed = UnverifiedToken.parse(token)
    assert parsed.algorithm == alg
    assert parsed.header["kid"] == key.get("kid")
    assert parsed.verify(key) == {"sub": "x", "n": 1}


def test_wrong_key_refused() -> None:
    token = sign({"sub": "x"}, generate_jwk())
    with pytest.raises(InvalidToken, match="signature"):
        UnverifiedToken.parse(token).verify(generate_jwk())


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_and_hmac_refused() -> None:
    with pytest.raises(InvalidToken):
        UnverifiedToken.parse(_b64({"alg": "none"}) + "." + _b64({"sub": "x"}) + ".")
    with pytest.raises(InvalidToken):
        UnverifiedToken.parse(_b64({"alg": "HS256"}) + "." + _b64({"sub": "x"}) + ".AAAA")


def test_alg_must_match_key() -> None:
    key = generate_jwk()
    token = sign({"sub": "x"}, key)
    header, payload, signature = token.split(".")
    forged = _b64({"alg": "RS256", "kid": key.get("kid")}) + "." + payload + "." + signature
    with pytest.raises(InvalidToken):
        UnverifiedToken.parse(forged).verify(key)


@pytest.mark.parametrize("bad", ["", "abc", "a.b", "a.b.c.d", "!!!.???.***", _b64({"alg": "ES256"}) + ".bm90anNvbg.AA"])
def test_malformed_refused(bad: str) -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        UnverifiedToken.parse(bad)


def test_extra_headers() -> None:
    key = generate_jwk()
    token = sign({"a": 1}, key, headers={"x5c": ["AAAA"]})
    assert UnverifiedToken.parse(token).header["x5c"] == ["AAAA"]
