"""Token -> certificate -> openssl verify; every refusal with step-ca's status;
renew over mTLS (curl) and with a bearer token; revoke, then renew refused."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509

from tests.e2e.harness import CA, Server, csr_pem, new_key, renew_token, token, write_pem

pytestmark = pytest.mark.slow


def _sign(ca: CA, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    with ca.client() as client:
        response = client.post("/1.0/sign", json=body)
    return response.status_code, response.json()


def _issue(ca: CA, name: str, work: Path) -> tuple[x509.Certificate, Path, Path]:
    """A certificate for ``name``; the files curl needs (chain, key)."""
    key = new_key()
    status, body = _sign(ca, {"csr": csr_pem(name, key), "ott": token(ca, name)})
    assert status == 201, body
    crt = write_pem(work / f"{name}.crt", *body["certChain"])
    return x509.load_pem_x509_certificate(body["crt"].encode()), crt, write_pem(work / f"{name}.key", key)


def _curl(ca: CA, path: str, *args: str) -> tuple[int, dict[str, Any]]:
    """POST with curl, trusting only the CA's root; the status and JSON body."""
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--cacert", str(ca.root), "-X", "POST", "-w", "\n%{http_code}",
         *args, f"{ca.url}{path}"], capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body)


def test_token_to_verified_certificate(server: Server, work: Path, openssl: Callable[..., Any]) -> None:
    ca = server.ca
    before = ca.rows()
    key = new_key()
    status, body = _sign(ca, {"csr": csr_pem("svc.example", key, ("svc.example",)),
                              "ott": token(ca, "svc.example", ["svc.example"]), "notAfter": "2h"})
    assert status == 201, body
    assert body["certChain"][0] == body["crt"] and body["certChain"][1] == body["ca"]
    leaf = write_pem(work / "leaf.crt", body["crt"])
    openssl("verify", "-CAfile", ca.root, "-untrusted", ca.intermediate, leaf)
    certificate = x509.load_pem_x509_certificate(body["crt"].encode())
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["svc.example"]
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert datetime.timedelta(hours=2) <= lifetime <= datetime.timedelta(hours=2, minutes=2)
    after = ca.rows()
    assert after["certificates"] == before["certificates"] + 1 and after["used_tokens"] == before["used_tokens"] + 1
    assert "provisioner=admin subject=svc.example serial=" in server.log()


def test_replayed_token_is_refused(server: Server) -> None:
    ca = server.ca
    ott = token(ca, "replay.example")
    assert _sign(ca, {"csr": csr_pem("replay.example", new_key()), "ott": ott})[0] == 201
    status, body = _sign(ca, {"csr": csr_pem("replay.example", new_key()), "ott": ott})
    assert (status, body["status"]) == (401, 401) and "used" in body["message"]


def _old(ca: CA, name: str) -> str:
    return token(ca, name, issued=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10))


@pytest.mark.parametrize(
    ("make_token", "csr_names", "status"),
    [
        (lambda ca: token(ca, "a.example", audience="https://elsewhere.example/1.0/sign"), ("a.example",), 401),
        (lambda ca: _old(ca, "a.example"), ("a.example",), 401),
        (lambda ca: token(ca, "a.example", sha="00" * 32), ("a.example",), 401),
        (lambda ca: token(ca, "a.example", ["a.example"]), ("a.example", "b.example"), 403),
    ],
    ids=["wrong-audience", "expired", "wrong-root-sha", "names-outside-token"],
)
def test_refused_tokens(server: Server, make_token: Callable[[CA], str], csr_names: tuple[str, ...],
                        status: int) -> None:
    ca = server.ca
    before = ca.rows()
    got, body = _sign(ca, {"csr": csr_pem(csr_names[0], new_key(), csr_names), "ott": make_token(ca)})
    assert (got, body["status"]) == (status, status), body
    assert ca.rows()["certificates"] == before["certificates"]


def test_renew_over_mutual_tls_with_curl(server: Server, work: Path, openssl: Callable[..., Any]) -> None:
    ca = server.ca
    old, crt, key = _issue(ca, "mtls.example", work)
    status, body = _curl(ca, "/renew", "--cert", str(crt), "--key", str(key))
    assert status == 201, body
    new = x509.load_pem_x509_certificate(body["crt"].encode())
    assert new.serial_number != old.serial_number and new.public_key() == old.public_key()
    openssl("verify", "-CAfile", ca.root, "-untrusted", ca.intermediate, write_pem(work / "renewed.crt", body["crt"]))


def test_renew_with_bearer_token(server: Server, work: Path) -> None:
    ca = server.ca
    key = new_key()
    status, body = _sign(ca, {"csr": csr_pem("bearer.example", key), "ott": token(ca, "bearer.example")})
    certificate = x509.load_pem_x509_certificate(body["crt"].encode())
    bearer = renew_token(ca, certificate, key)
    status, body = _curl(ca, "/1.0/renew", "-H", f"Authorization: Bearer {bearer}")
    assert status == 201, body
    assert x509.load_pem_x509_certificate(body["crt"].encode()).serial_number != certificate.serial_number
    assert _curl(ca, "/1.0/renew", "-H", f"Authorization: Bearer {bearer}")[0] == 401  # one-time


def test_revoke_over_mtls_then_renew_is_refused(server: Server, work: Path) -> None:
    ca = server.ca
    certificate, crt, key = _issue(ca, "revoked.example", work)
    mtls = ("--cert", str(crt), "--key", str(key))
    status, body = _curl(ca, "/revoke", *mtls, "-H", "content-type: application/json", "--data",
                         json.dumps({"serial": str(certificate.serial_number), "reasonCode": 1,
                                     "reason": "key compromise", "passive": True}))
    assert (status, body) == (200, {"status": "ok"})
    status, body = _curl(ca, "/renew", *mtls)
    assert status == 401 and "revoked" in body["message"]


def test_revoke_with_token(server: Server, work: Path) -> None:
    ca = server.ca
    certificate, _, _ = _issue(ca, "revoke-token.example", work)
    serial = str(certificate.serial_number)
    with ca.client() as client:
        response = client.post("/revoke", json={"serial": serial, "ott": token(ca, serial, endpoint="revoke"),
                                                "passive": True, "reasonCode": 4})
    assert response.status_code == 200, response.text
    assert ca.rows()["revocations"] >= 1


def _s_client(ca: CA, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{ca.port}", "-servername", "localhost",
         "-CAfile", str(ca.root), "-verify_return_error", *args],
        input="", capture_output=True, text=True, timeout=30,
    )


def test_server_certificate_is_issued_by_the_ca_and_recorded(server: Server) -> None:
    ca = server.ca
    result = _s_client(ca, "-tls1_2")
    assert result.returncode == 0 and "Verify return code: 0 (ok)" in result.stdout, result.stdout + result.stderr
    assert "ECDHE" in result.stdout
    subjects = ca.query("SELECT subject FROM certificates WHERE provisioner = 'authority'")
    assert ("CN=localhost",) in subjects  # recorded like any other certificate


@pytest.mark.parametrize("protocol", ["-tls1", "-tls1_1"])
def test_tls_before_1_2_is_refused(server: Server, protocol: str) -> None:
    assert _s_client(server.ca, protocol).returncode != 0


def test_rekey_over_mutual_tls(server: Server, work: Path, openssl: Callable[..., Any]) -> None:
    ca = server.ca
    old, crt, key = _issue(ca, "rekey.example", work)
    new_private = new_key()
    status, body = _curl(ca, "/1.0/rekey", "--cert", str(crt), "--key", str(key),
                         "-H", "content-type: application/json",
                         "--data", json.dumps({"csr": csr_pem("rekey.example", new_private)}))
    assert status == 201, body
    new = x509.load_pem_x509_certificate(body["crt"].encode())
    assert new.public_key() == new_private.public_key() and new.subject == old.subject
    openssl("verify", "-CAfile", ca.root, "-untrusted", ca.intermediate, write_pem(work / "rekeyed.crt", body["crt"]))
    assert _curl(ca, "/rekey", "-H", "content-type: application/json",
                 "--data", json.dumps({"csr": csr_pem("rekey.example", new_private)}))[0] == 400
