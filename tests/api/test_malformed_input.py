"""Malformed input found by fuzzing (issue 18) gets a clear 4xx in step-ca's JSON from
the real CA, never a 500, and records nothing. Each case answered 500 before the fix."""

from __future__ import annotations

import base64
import json
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from appliance.jose import sign
from tests.api.real_ca import RealCA, pem, start_real_ca
from tests.ca_fixtures import make_csr

DEEP = "[" * 5000 + "]" * 5000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCA]:
    running = start_real_ca(tmp_path_factory.mktemp("ca"))
    yield running
    running.close()


def with_header(token: str, header: Any) -> str:
    """``token`` with its protected header replaced (the signature no longer matters: parsing fails first)."""
    _, payload, signature = token.split(".")
    return ".".join([b64(json.dumps(header).encode() if not isinstance(header, bytes) else header), payload, signature])


def unsupported_curve_csr() -> x509.CertificateSigningRequest:
    """A P-256 CSR whose curve OID is changed to 1.2.840.10045.3.1.8, which no library knows."""
    der = make_csr("a.example.test")[0].public_bytes(Encoding.DER)
    p256 = bytes.fromhex("06082a8648ce3d030107")
    return x509.load_der_x509_csr(der.replace(p256, bytes.fromhex("06082a8648ce3d030108")))


def assert_refused(real: RealCA, response: Any, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and words in body["message"], body
    assert response.headers["x-request-id"]


def sign_case(real: RealCA, **fields: Any) -> Any:
    body = {"csr": pem(make_csr("a.example.test")[0]), "ott": real.ca.token("a.example.test"), **fields}
    return real.http.post("/sign", json=body)


@pytest.mark.parametrize(("header", "words"), [
    ({"alg": {"name": "ES256"}}, "token algorithm must be one of"),
    ({"alg": ["ES256"]}, "token algorithm must be one of"),
    (DEEP.encode(), "malformed token"),
    (('{"alg":"ES256","x":' + DEEP + "}").encode(), "malformed token"),
])
def test_malformed_token_header_is_401(real: RealCA, header: Any, words: str) -> None:
    before = real.counts()
    token = with_header(real.ca.token("a.example.test"), header)
    assert_refused(real, sign_case(real, ott=token), 401, words)
    renew = real.http.post("/renew", headers={"authorization": f"Bearer {token}"})
    assert_refused(real, renew, 401, words)
    assert real.counts() == before


def test_deeply_nested_token_payload_is_401(real: RealCA) -> None:
    header, _, signature = real.ca.token("a.example.test").split(".")
    token = f"{header}.{b64(DEEP.encode())}.{signature}"
    assert_refused(real, sign_case(real, ott=token), 401, "malformed token")


@pytest.mark.parametrize("value", ["99999999999h", "9" * 400 + "h", "-99999999999h", "2562048h"])
def test_huge_durations_are_400(real: RealCA, value: str) -> None:
    before = real.counts()
    assert_refused(real, sign_case(real, notAfter=value), 400, "invalid duration")
    assert_refused(real, sign_case(real, notBefore=value), 400, "invalid duration")
    assert real.counts() == before


@pytest.mark.parametrize(("serial", "words"), [
    ("0x" + "f" * 5000, "longer than 64 characters"), ("1" * 5000, "longer than 64 characters"),
    ("0x" + "f" * 41, "larger than 20 octets"),
])
def test_long_revoke_serial_is_400(real: RealCA, serial: str, words: str) -> None:
    before = real.counts()
    response = real.http.post("/revoke", json={"serial": serial, "ott": real.ca.token(serial, endpoint="revoke"),
                                               "passive": True})
    assert_refused(real, response, 400, words)
    assert real.counts() == before


def test_csr_on_an_unsupported_curve_is_400(real: RealCA) -> None:
    before = real.counts()
    response = real.http.post("/sign", json={"csr": pem(unsupported_curve_csr()), "ott": real.ca.token("a.example.test")})
    assert_refused(real, response, 400, "unsupported key or signature algorithm")
    assert real.counts() == before


def test_non_ascii_sha_claim_is_401(real: RealCA) -> None:
    response = sign_case(real, ott=real.ca.token("a.example.test", sha="é" * 64))
    assert_refused(real, response, 401, "root fingerprint (sha) does not match")


@pytest.mark.parametrize(("value", "words"), [
    ("9000-01-01T00:00:00Z", "is not before the issuing CA certificate's expiry"),
    ("9999-12-31T23:59:59Z", "notBefore is out of range"),
    ("9999-12-31T23:59:59-12:00", "invalid time or duration"),
])
def test_not_before_past_the_intermediate_is_400(real: RealCA, value: str, words: str) -> None:
    before = real.counts()
    assert_refused(real, sign_case(real, notBefore=value), 400, words)
    assert real.counts() == before


@pytest.mark.parametrize(("claim", "value"), [
    ("sub", 5), ("sub", ["a"]), ("sans", "a.example.test"), ("sans", [{"a": 1}]), ("iss", {"a": 1}),
    ("aud", [1, {}]), ("jti", 5), ("nbf", "now"), ("exp", 1e308), ("sha", 7), ("iat", [1]),
])
def test_claims_of_the_wrong_type_are_401(real: RealCA, claim: str, value: Any) -> None:
    token = real.ca.token("a.example.test")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    claims[claim] = value
    response = sign_case(real, ott=sign(claims, real.ca.provisioner_key))
    assert response.status_code == 401 and response.json()["status"] == 401, response.text


def test_active_revocation_without_crl_or_ocsp_is_400(real: RealCA) -> None:
    """A client's choice (passive: false) that this CA cannot honour is a 4xx, never 501."""
    response = real.http.post("/revoke", json={"serial": "5", "ott": real.ca.token("5", endpoint="revoke"),
                                               "passive": False})
    assert_refused(real, response, 400, "active revocation")


def test_a_good_request_still_signs(real: RealCA) -> None:
    before = real.counts()
    response = sign_case(real, notAfter="1h")
    assert response.status_code == 201, response.text
    assert real.counts()[0] == before[0] + 1


def test_a_disabled_crl_is_400_not_501(real: RealCA) -> None:
    """NotImplementedFeature answered 501; asking for a feature this CA has off is the client's error."""
    assert_refused(real, real.http.get("/crl"), 400, "the CRL is not enabled")
