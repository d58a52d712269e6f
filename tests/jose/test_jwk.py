from __future__ import annotations

import base64
import hashlib
import json

import pytest

from appliance.jose import InvalidKey, algorithm_for, generate_jwk, key_from_dict, public_dict, thumbprint


@pytest.mark.parametrize(
    ("kty", "crv", "alg"),
    [("EC", None, "ES256"), ("EC", "P-384", "ES384"), ("RSA", None, "RS256"), ("OKP", None, "EdDSA")],
)
def test_generate_sets_kid_alg_use(kty: str, crv: str | None, alg: str) -> None:
    key = generate_jwk(kty, crv=crv)
    assert key.get("alg") == alg
    assert key.get("use") == "sig"
    assert key.get("kid") == thumbprint(key)
    assert algorithm_for(key) == alg
    assert key.has_private


def test_thumbprint_is_rfc7638() -> None:
    key = generate_jwk()
    members = key.export(private_key=False, as_dict=True)
    canonical = json.dumps({k: members[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert thumbprint(key) == expected


def test_rfc7638_example_vector() -> None:
    # RFC 7638 section 3.1
    key = key_from_dict({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    })
    assert thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_public_dict_has_no_private_members() -> None:
    members = public_dict(generate_jwk())
    assert "d" not in members
    assert set(members) == {"kty", "crv", "x", "y", "kid", "alg", "use"}


@pytest.mark.parametrize("members", [{"kty": "oct", "k": "AAAA"}, {"kty": "EC", "crv": "P-256"}, "nope"])
def test_bad_keys_refused(members: object) -> None:
    with pytest.raises(InvalidKey):
        key_from_dict(members)  # type: ignore[arg-type]


def test_unsupported_types_refused() -> None:
    with pytest.raises(InvalidKey):
        generate_jwk("DSA")
    with pytest.raises(InvalidKey):
        generate_jwk("RSA", size=1024)
