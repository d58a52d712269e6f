"""What a step-ca 0.19 client expects of the HTTP API, against a real authority
(softkms intermediate, SQLite): bodies read as JSON whatever their Content-Type,
201 for the certificate lists, 400 for a second revocation of a serial,
``tlsOptions`` in sign/renew/rekey responses, and durations such as ``5m``
counted from the instant the authority checks them."""

from __future__ import annotations

import datetime
import json
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.testclient import TestClient

from appliance.api import create_app
from appliance.api.app import ApiSettings
from appliance.authority.authority import Authority
from appliance.config.tls import TlsOptions
from tests.api.conftest import WithPeer
from tests.authority.conftest import ca, make_authority
from tests.ca_fixtures import TestCA, make_csr, new_key

__all__ = ["ca", "make_authority"]
CA = tuple[Authority, TestCA]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # what `curl -d` sends


def _client(authority: Authority, settings: ApiSettings | None = None,
            peer: x509.Certificate | None = None) -> TestClient:
    app = create_app(authority, settings)
    return TestClient(WithPeer(app, peer) if peer is not None else app, base_url="https://ca.test")


def _sign_body(test_ca: TestCA, subject: str = "svc.example", **extra: Any) -> bytes:
    csr = make_csr(subject)[0].public_bytes(Encoding.PEM).decode()
    return json.dumps({"csr": csr, "ott": test_ca.token(subject), **extra}).encode()


@pytest.mark.parametrize("headers", [{}, FORM, {"Content-Type": "text/plain"}])
def test_sign_reads_json_whatever_the_content_type(ca: CA, headers: dict[str, str]) -> None:
    authority, test_ca = ca
    response = _client(authority).post("/1.0/sign", content=_sign_body(test_ca), headers=headers)
    assert response.status_code == 201, response.text
    assert x509.load_pem_x509_certificate(response.json()["crt"].encode()).subject.rfc4514_string() == \
        "CN=svc.example"


def test_revoke_and_rekey_read_json_without_content_type(ca: CA) -> None:
    authority, test_ca = ca
    client = _client(authority)
    issued = client.post("/sign", content=_sign_body(test_ca), headers=FORM).json()
    certificate = x509.load_pem_x509_certificate(issued["crt"].encode())
    key = new_key()
    rekeyed = _client(authority, peer=certificate).post(
        "/rekey", content=json.dumps({"csr": make_csr("svc.example", key=key)[0].public_bytes(Encoding.PEM).decode()}),
        headers=FORM)
    assert rekeyed.status_code == 201, rekeyed.text
    serial = str(certificate.serial_number)
    body = json.dumps({"serial": serial, "ott": test_ca.token(serial, endpoint="revoke"), "reasonCode": 1,
                       "passive": True})
    assert client.post("/revoke", content=body).json() == {"status": "ok"}


def test_a_malformed_body_is_still_a_400(ca: CA) -> None:
    authority, _ = ca
    response = _client(authority).post("/sign", content=b"{not json", headers=FORM)
    assert response.status_code == 400 and response.json()["message"].startswith("error reading request body")


def test_revoking_a_revoked_serial_again_is_a_400(ca: CA) -> None:
    authority, test_ca = ca
    client = _client(authority)
    certificate = x509.load_pem_x509_certificate(
        client.post("/sign", content=_sign_body(test_ca)).json()["crt"].encode())
    serial = str(certificate.serial_number)

    def revoke() -> Any:
        return client.post("/revoke", json={"serial": serial, "ott": test_ca.token(serial, endpoint="revoke"),
                                              "passive": True})

    assert revoke().status_code == 200
    again = revoke()
    assert again.status_code == 400
    assert again.json()["status"] == 400 and "revoked" in again.json()["message"]


@pytest.mark.parametrize("path", ["/roots", "/1.0/roots", "/intermediates", "/federation", "/1.0/federation"])
def test_certificate_lists_answer_201(ca: CA, path: str) -> None:
    response = _client(ca[0]).get(path)
    assert response.status_code == 201
    assert "crts" in response.json()


def test_sign_renew_and_rekey_carry_the_configured_tls_options(ca: CA) -> None:
    authority, test_ca = ca
    options = TlsOptions(cipher_suites=("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",), min_version=1.2,
                         max_version=1.2)
    expected = {"cipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"], "minVersion": 1.2,
                "maxVersion": 1.2, "renegotiation": False}
    settings = ApiSettings(tls_options=options)
    signed = _client(authority, settings).post("/sign", content=_sign_body(test_ca)).json()
    assert signed["tlsOptions"] == expected
    certificate = x509.load_pem_x509_certificate(signed["crt"].encode())
    peer = _client(authority, settings, peer=certificate)
    assert peer.post("/renew").json()["tlsOptions"] == expected
    csr = make_csr("svc.example", key=new_key())[0].public_bytes(Encoding.PEM).decode()
    assert peer.post("/rekey", json={"csr": csr}).json()["tlsOptions"] == expected


@pytest.mark.parametrize("not_after", ["5m", "+5m"])
def test_a_duration_equal_to_the_minimum_is_accepted(make_authority: Callable[..., CA], not_after: str) -> None:
    authority, test_ca = make_authority(authority={"claims": {"minTLSCertDuration": "5m"}})
    response = _client(authority).post("/sign", content=_sign_body(test_ca, notAfter=not_after))
    assert response.status_code == 201, response.text
    certificate = x509.load_pem_x509_certificate(response.json()["crt"].encode())
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime == datetime.timedelta(minutes=5) + authority.config.authority.backdate


def test_a_duration_below_the_minimum_is_still_refused(make_authority: Callable[..., CA]) -> None:
    authority, test_ca = make_authority(authority={"claims": {"minTLSCertDuration": "5m"}})
    response = _client(authority).post("/sign", content=_sign_body(test_ca, notAfter="4m59s"))
    assert response.status_code == 403 and "minimum" in response.json()["message"]
