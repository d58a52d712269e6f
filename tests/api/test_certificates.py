"""Sign, renew, rekey, revoke: request validation, authority calls, response shape."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.testclient import TestClient

from appliance.authority.interfaces import RevokeRequest, SignRequest
from appliance.errors import Conflict, Forbidden, NotImplementedFeature, Unauthorized, Unavailable
from tests.api.conftest import GOOD_TOKEN, FakeAuthority, make_client
from tests.api.pki import make_csr


def _csr_pem(common_name: str = "svc.example") -> str:
    return make_csr(common_name).public_bytes(Encoding.PEM).decode()


def test_sign_returns_step_ca_sign_response(client: TestClient, authority: FakeAuthority) -> None:
    response = client.post("/1.0/sign", json={"csr": _csr_pem(), "ott": GOOD_TOKEN, "notAfter": "1h"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"crt", "ca", "certChain", "tlsOptions"}
    assert body["tlsOptions"] == {"cipherSuites": ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                                                   "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
                                  "minVersion": 1.2, "maxVersion": 1.3, "renegotiation": False}
    leaf = x509.load_pem_x509_certificate(body["crt"].encode())
    assert leaf.subject.rfc4514_string() == "CN=svc.example"
    assert x509.load_pem_x509_certificate(body["ca"].encode()) == authority.pki.intermediate
    assert body["certChain"] == [body["crt"], body["ca"]]
    (name, request), = authority.calls
    assert name == "sign" and isinstance(request, SignRequest)
    assert request.not_after == datetime.timedelta(hours=1) and request.not_before is None


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[]",
        b'{"ott": "x"}',
        b'{"csr": "-----BEGIN CERTIFICATE REQUEST-----\\ngarbage\\n-----END CERTIFICATE REQUEST-----\\n", "ott": "x"}',
        b'{"csr": 5, "ott": "x"}',
    ],
    ids=["malformed-json", "not-an-object", "missing-csr", "garbage-csr", "csr-not-a-string"],
)
def test_malformed_sign_requests_are_400_and_never_reach_the_authority(
    client: TestClient, authority: FakeAuthority, payload: bytes
) -> None:
    response = client.post("/sign", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert authority.calls == []


def test_sign_without_ott_is_400(client: TestClient, authority: FakeAuthority) -> None:
    response = client.post("/sign", json={"csr": _csr_pem(), "ott": ""})
    assert response.status_code == 400 and response.json()["message"] == "missing ott"
    assert authority.calls == []


def test_sign_with_bad_time_is_400(client: TestClient, authority: FakeAuthority) -> None:
    response = client.post("/sign", json={"csr": _csr_pem(), "ott": GOOD_TOKEN, "notAfter": "tomorrow"})
    assert response.status_code == 400
    assert authority.calls == []


@pytest.mark.parametrize(
    ("error", "status"),
    [(Unauthorized("token already used"), 401), (Forbidden("name not allowed"), 403),
     (Conflict("serial exists"), 409), (NotImplementedFeature("nope"), 400), (Unavailable("db down"), 503)],
)
def test_domain_errors_map_to_status(client: TestClient, authority: FakeAuthority, error: Exception,
                                     status: int) -> None:
    authority.fail = error
    response = client.post("/sign", json={"csr": _csr_pem(), "ott": GOOD_TOKEN})
    assert response.status_code == status
    assert response.json() == {"status": status, "message": str(error)}


def test_unexpected_error_is_500_without_details(client: TestClient, authority: FakeAuthority) -> None:
    authority.fail = RuntimeError("secret detail")
    response = client.post("/sign", json={"csr": _csr_pem(), "ott": GOOD_TOKEN})
    assert response.status_code == 500
    assert "secret detail" not in response.text and response.json()["status"] == 500


def test_renew_needs_a_certificate_or_token(client: TestClient, authority: FakeAuthority) -> None:
    response = client.post("/renew")
    assert response.status_code == 400 and response.json()["message"] == "missing client certificate"
    assert authority.calls == []


def test_renew_with_client_certificate(authority: FakeAuthority) -> None:
    peer = authority.pki.leaf("peer.example")
    response = make_client(authority, peer).post("/renew")
    assert response.status_code == 201
    assert authority.calls == [("renew", peer)]


def test_renew_with_bearer_token(client: TestClient, authority: FakeAuthority) -> None:
    response = client.post("/1.0/renew", headers={"authorization": f"Bearer {GOOD_TOKEN}"})
    assert response.status_code == 201
    assert [name for name, _ in authority.calls] == ["authorize_renew_token", "renew"]


def test_renew_with_bad_bearer_token_is_401(client: TestClient, authority: FakeAuthority) -> None:
    response = client.post("/renew", headers={"authorization": "Bearer forged"})
    assert response.status_code == 401
    assert [name for name, _ in authority.calls] == ["authorize_renew_token"]


def test_rekey_needs_mtls(client: TestClient, authority: FakeAuthority) -> None:
    assert client.post("/rekey", json={"csr": _csr_pem()}).status_code == 400
    peer = authority.pki.leaf("peer.example")
    response = make_client(authority, peer).post("/rekey", json={"csr": _csr_pem()})
    assert response.status_code == 201
    (name, (certificate, csr)), = authority.calls
    assert name == "rekey" and certificate == peer and isinstance(csr, x509.CertificateSigningRequest)


def test_revoke_with_token(client: TestClient, authority: FakeAuthority) -> None:
    response = client.post("/revoke", json={"serial": "123", "ott": GOOD_TOKEN, "reasonCode": 1,
                                             "reason": "key compromise", "passive": True})
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    (name, request), = authority.calls
    assert request == RevokeRequest(serial="123", reason_code=1, reason="key compromise", passive=True,
                                    token=GOOD_TOKEN, client_certificate=None)


def test_revoke_over_mtls_passes_the_client_certificate(authority: FakeAuthority) -> None:
    peer = authority.pki.leaf("peer.example")
    response = make_client(authority, peer).post("/revoke", json={"serial": str(peer.serial_number), "passive": True})
    assert response.status_code == 200
    (name, request), = authority.calls
    assert request.client_certificate == peer and request.token is None


@pytest.mark.parametrize("body", [{"serial": "1", "passive": True}, {"serial": "", "ott": GOOD_TOKEN},
                                  {"serial": "1", "ott": GOOD_TOKEN, "reasonCode": 11}])
def test_bad_revoke_requests_are_400(client: TestClient, authority: FakeAuthority, body: dict[str, object]) -> None:
    assert client.post("/revoke", json=body).status_code == 400
    assert authority.calls == []
