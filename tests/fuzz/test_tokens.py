"""Property: whatever token, CSR, validity or serial a client sends to the step-ca
API of the real CA, the answer is never a 5xx; a refusal is step-ca's JSON and
records no certificate and no revocation. Tokens are signed with the
provisioner's real key (or another real key), so malformed headers and claims
reach the checks behind the signature."""

from __future__ import annotations

import json

import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st

from appliance.jose import generate_jwk
from tests.api.real_ca import RealCA, pem
from tests.api.test_malformed_input import unsupported_curve_csr
from tests.ca_fixtures import TestCA, make_csr
from tests.fuzz.conftest import SCALES, fuzz_settings, record
from tests.fuzz.strategies import JSON_VALUES, NASTY_TEXT, SCALARS, compact, mutate, raw_documents

EXAMPLES = 900
_OTHER_KEY = generate_jwk()
CSRS = [pem(make_csr("fuzz.example.test", key=key)[0]) for key in (
    ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1()),
    ec.generate_private_key(ec.SECP256K1()), rsa.generate_private_key(public_exponent=65537, key_size=2048),
    rsa.generate_private_key(public_exponent=3, key_size=1024), ed25519.Ed25519PrivateKey.generate(),
)] + [pem(unsupported_curve_csr()), pem(make_csr("other.example.test")[0]),
      make_csr("fuzz.example.test")[0].public_bytes(Encoding.DER).hex()]
TIMES = st.sampled_from(["", "1h", "5m", "-5m", "24h", "25h", "30s", "2562047h", "99999999999h", "1.5h",
                         "2030-01-01T00:00:00Z", "9000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2020-01-01T00:00:00",
                         "0001-01-01T00:00:00Z"]) | NASTY_TEXT | st.text(max_size=20)


def claims_for(ca: TestCA, endpoint: str, subject: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ca.provisioner, "aud": ca.audience(endpoint), "sub": subject, "nbf": now, "iat": now,
            "exp": now + 300, "jti": uuid.uuid4().hex, "sha": ca.fingerprint, "sans": [subject]}


@st.composite
def token(draw: st.DrawFn, ca: TestCA, endpoint: str, subject: str) -> str:
    """A well-formed token, or one with a hostile header, claims, encoding or signer."""
    header: Any = {"alg": "ES256", "typ": "JWT", "kid": ca.provisioner_key.get("kid")}
    claims: Any = claims_for(ca, endpoint, subject)
    key = ca.provisioner_key
    kind = draw(st.sampled_from(["good", "header", "claims", "raw-header", "raw-claims", "other-key", "text"]))
    if kind == "header":
        header = mutate(header, draw, names=("alg", "kid", "typ", "crit", "x5c", "jwk", "b64"))
    elif kind == "claims":
        claims = mutate(claims, draw, names=("iss", "aud", "sub", "nbf", "iat", "exp", "jti", "sha", "sans", "step"))
    elif kind == "raw-header":
        header = draw(raw_documents())
    elif kind == "raw-claims":
        claims = draw(raw_documents())
    elif kind == "other-key":
        key = _OTHER_KEY
    else:
        return draw(NASTY_TEXT | st.text(max_size=60) | st.just("a.b.c"))
    return compact(header, claims, key)


@st.composite
def request(draw: st.DrawFn, ca: TestCA) -> tuple[str, dict[str, Any]]:
    """(path, keyword arguments of the HTTP call) for /sign, /revoke or /renew."""
    endpoint = draw(st.sampled_from(["sign", "revoke", "renew"]))
    if endpoint == "renew":
        bearer = f"Bearer {draw(token(ca, 'renew', 'fuzz.example.test'))}".encode("utf-8", "surrogatepass")
        return "/renew", {"headers": {"authorization": bearer}}
    if endpoint == "sign":
        body: dict[str, Any] = {"csr": draw(st.sampled_from(CSRS)), "ott": draw(token(ca, "sign", "fuzz.example.test")),
                                "notBefore": draw(TIMES), "notAfter": draw(TIMES)}
    else:
        serial = draw(st.integers(1, 2**170).map(str) | st.integers(1, 2**170).map(hex) | NASTY_TEXT)
        body = {"serial": serial, "ott": draw(token(ca, "revoke", serial)), "passive": draw(st.booleans()),
                "reasonCode": draw(st.integers(-2, 12)), "reason": draw(st.text(max_size=30))}
    if draw(st.integers(0, 5)) == 0:
        body = mutate(body, draw, names=tuple(body)) if draw(st.booleans()) else draw(JSON_VALUES | SCALARS)
    if draw(st.integers(0, 10)) == 0:
        return f"/{endpoint}", {"content": draw(raw_documents()), "headers": {"content-type": "application/json"}}
    # json.dumps, not httpx's json=: a NaN drawn among the values goes out as the NaN token
    return f"/{endpoint}", {"content": json.dumps(body).encode(), "headers": {"content-type": "application/json"}}


@pytest.mark.parametrize("scale", SCALES)
def test_step_ca_api_never_answers_5xx(real: RealCA, scale: int) -> None:
    outcomes: set[int] = set()

    @fuzz_settings(EXAMPLES, scale)
    @given(request(real.ca))
    def case(call: tuple[str, dict[str, Any]]) -> None:
        path, arguments = call
        before = real.counts()
        response = real.http.post(path, **arguments)
        record("step-ca API", response.status_code)
        outcomes.add(response.status_code)
        assert response.status_code < 500, (path, response.text)
        if response.status_code >= 400:
            body = response.json()
            assert body["status"] == response.status_code and isinstance(body["message"], str) and body["message"]
            assert real.counts() == before, "a refused request changed the database"

    case()
    assert {400, 401} <= outcomes, outcomes
    # The fuzzed API still works: a well-formed request after all of that is issued.
    good = real.http.post("/sign", json={"csr": CSRS[0], "ott": real.ca.token("fuzz.example.test")})
    assert good.status_code == 201, good.text
