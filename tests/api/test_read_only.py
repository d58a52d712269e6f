"""Health, version, roots, intermediates, federation, provisioners, CRL."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from starlette.testclient import TestClient

from appliance.api import create_app, create_insecure_app
from tests.api.conftest import FakeAuthority


@pytest.mark.parametrize("prefix", ["", "/1.0"])
def test_health_at_both_prefixes(client: TestClient, prefix: str) -> None:
    response = client.get(f"{prefix}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_version(client: TestClient) -> None:
    body = client.get("/version").json()
    assert body["version"] and body["requireClientAuthentication"] is False


def test_root_by_fingerprint(client: TestClient, authority: FakeAuthority) -> None:
    sha = authority.pki.root.fingerprint(hashes.SHA256()).hex()
    body = client.get(f"/1.0/root/{sha.upper()}").json()
    assert x509.load_pem_x509_certificate(body["ca"].encode()) == authority.pki.root


def test_unknown_root_is_404_in_step_ca_json(client: TestClient) -> None:
    response = client.get("/root/" + "ab" * 32)
    assert response.status_code == 404
    assert response.json()["status"] == 404 and "ab" in response.json()["message"]


def test_roots_intermediates_federation(client: TestClient, authority: FakeAuthority) -> None:
    roots = client.get("/roots").json()["crts"]
    assert [x509.load_pem_x509_certificate(p.encode()) for p in roots] == [authority.pki.root]
    intermediates = client.get("/intermediates").json()["crts"]
    assert [x509.load_pem_x509_certificate(p.encode()) for p in intermediates] == [authority.pki.intermediate]
    assert len(client.get("/federation").json()["crts"]) == 1


@pytest.mark.parametrize(("path", "attr"), [("/roots.pem", "root"), ("/intermediates.pem", "intermediate")])
def test_pem_bundles(client: TestClient, authority: FakeAuthority, path: str, attr: str) -> None:
    response = client.get(path)
    assert response.headers["content-type"].startswith("application/x-pem-file")
    assert x509.load_pem_x509_certificates(response.content) == [getattr(authority.pki, attr)]


def test_provisioners_page(client: TestClient, authority: FakeAuthority) -> None:
    body = client.get("/provisioners", params={"cursor": "c", "limit": "500"}).json()
    assert body == {"provisioners": [{"type": "JWK", "name": "admin", "key": {"kid": "k1"}}], "nextCursor": ""}
    assert ("provisioners", ("c", 100)) in authority.calls


def test_provisioners_bad_limit(client: TestClient) -> None:
    response = client.get("/provisioners", params={"limit": "x"})
    assert response.status_code == 400


def test_encrypted_key(client: TestClient) -> None:
    assert client.get("/provisioners/k1/encrypted-key").json() == {"key": "a.b.c.d.e"}
    missing = client.get("/1.0/provisioners/nope/encrypted-key")
    assert missing.status_code == 404 and missing.json()["status"] == 404


def test_crl_der_and_pem(client: TestClient) -> None:
    der = client.get("/crl")
    assert der.headers["content-type"] == "application/pkix-crl" and der.content == b"\x30\x00"
    pem = client.get("/1.0/crl?pem=true")
    assert pem.text == "-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"


def test_root_certificate_and_no_root_crl(authority: FakeAuthority) -> None:
    """/1.0/root.crt is the root in DER on both apps; without crl.rootCRL, /1.0/root.crl is a 404."""
    for client in (TestClient(create_insecure_app(authority)), TestClient(create_app(authority))):
        root = client.get("/1.0/root.crt")
        assert root.headers["content-type"] == "application/pkix-cert"
        assert x509.load_der_x509_certificate(root.content) == authority.pki.root
        missing = client.get("/1.0/root.crl")
        assert missing.status_code == 404 and "crl.rootCRL" in missing.json()["message"]


def test_insecure_app_serves_only_the_crl(authority: FakeAuthority) -> None:
    client = TestClient(create_insecure_app(authority))
    assert client.get("/crl").content == b"\x30\x00"
    assert client.get("/roots").status_code == 404
    assert client.get("/roots").json() == {"status": 404, "message": "Not Found"}
