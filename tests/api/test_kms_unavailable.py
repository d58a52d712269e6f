"""A KMS that is down: 503 with Retry-After in step-ca JSON and in ACME problem documents; /health reports it."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.requests import Request
from starlette.testclient import TestClient

from appliance.api import ApiSettings, create_app
from appliance.api.acme import PROBLEM_MEDIA_TYPE, _problem_response
from appliance.kms.faults import Fault, KmsUnavailable
from appliance.kms.health import SignerHealth
from appliance.kms.signer import device_private_key
from tests.api.conftest import GOOD_TOKEN, FakeAuthority
from tests.api.pki import make_csr

DOWN = KmsUnavailable("PKCS#11 token 'ca' is unavailable (device): no token", fault=Fault.DEVICE, retry_after=7)


def test_sign_while_the_kms_is_down_is_503_with_retry_after(client: TestClient, authority: FakeAuthority) -> None:
    authority.fail = DOWN
    response = client.post("/1.0/sign", json={"csr": make_csr("svc.example").public_bytes(Encoding.PEM).decode(), "ott": GOOD_TOKEN})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"status": 503, "message": DOWN.message}


class _Nonces:
    def new_nonce(self) -> str:
        return "nonce"


def test_acme_problem_document_while_the_kms_is_down() -> None:
    request = Request({"type": "http", "method": "POST", "path": "/acme/a/finalize", "headers": [], "state": {}})
    response = _problem_response(request, _Nonces(), None, DOWN)  # type: ignore[arg-type]
    assert response.status_code == 503 and response.media_type == PROBLEM_MEDIA_TYPE
    assert response.headers["Retry-After"] == "7" and response.headers["Replay-Nonce"] == "nonce"
    document = json.loads(bytes(response.body))
    assert document == {"type": "urn:ietf:params:acme:error:serverInternal", "detail": DOWN.message, "status": 503}


class _DeadDevice:
    def sign_digest(self, *args: object) -> bytes:
        raise DOWN

    def sign_message(self, message: bytes) -> bytes:
        raise DOWN


def test_health_is_503_unhealthy_when_the_signer_fails(authority: FakeAuthority) -> None:
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    health = SignerHealth(device_private_key(public_key, _DeadDevice()), clock=lambda: 0.0)
    client = TestClient(create_app(authority, ApiSettings(health=health)), base_url="https://ca.test")
    response = client.get("/health")
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.json() == {"status": "unhealthy", "message": f"kms: {DOWN.message}"}


def test_health_is_ok_with_a_working_signer(authority: FakeAuthority) -> None:
    health = SignerHealth(ec.generate_private_key(ec.SECP256R1()), clock=lambda: 0.0)
    client = TestClient(create_app(authority, ApiSettings(health=health)), base_url="https://ca.test")
    assert client.get("/1.0/health").json() == {"status": "ok"}
