"""EST (RFC 7030) against ``appliance serve`` with curl and openssl only: openssl makes
the PKCS#10 (DER, base64), curl posts it with HTTP basic auth or over mTLS, openssl
reads the certs-only PKCS#7 back and verifies the chain; re-enrolment with the
certificate being renewed, then refused once it is revoked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.harness import CA, Server, init_ca, start_server

pytestmark = pytest.mark.slow

SECRET = "e2e-est-secret"


@pytest.fixture(scope="module")
def est(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CA]:
    ca = init_ca(tmp_path_factory.mktemp("est-ca"))
    data = ca.data()
    provisioners = data["authority"]["provisioners"]
    provisioners.append({"type": "EST", "name": "devices", "username": "dev", "secret": SECRET})
    provisioners.append({"type": "EST", "name": "bycert", "roots": ca.intermediate.read_text()})
    ca.write(data)
    server: Server = start_server(ca, workers=1)
    try:
        yield ca
    finally:
        server.stop()


def run(*args: str | Path, stdin: bytes | None = None) -> bytes:
    result = subprocess.run([str(a) for a in args], input=stdin, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def curl(ca: CA, path: str, *args: str | Path) -> tuple[int, bytes, Path]:
    """curl trusting only the root; the status, body and the headers file."""
    headers = Path(str(ca.root) + f".{path.replace('/', '_')}.headers")
    result = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", str(ca.root), "-D", str(headers),
                             "-w", "\n%{http_code}", *map(str, args), f"{ca.url}/.well-known/est/{path}"],
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    body, _, status = result.stdout.rpartition(b"\n")
    return int(status), body, headers


def pkcs10(work: Path, name: str, stem: str) -> tuple[Path, Path]:
    """openssl req: a new P-256 key and its base64 DER PKCS#10 for ``name`` (files ``stem.*``)."""
    key = work / f"{stem}.key"
    der = run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", key, "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
              "-outform", "DER")
    body = work / f"{stem}.b64"
    body.write_bytes(run("openssl", "base64", stdin=der))
    return key, body


def certificates(work: Path, name: str, body: bytes) -> Path:
    """openssl pkcs7 -print_certs of the base64 certs-only reply."""
    p7 = work / f"{name}.p7"
    p7.write_bytes(run("openssl", "base64", "-d", stdin=body))
    pem = work / f"{name}.pem"
    pem.write_bytes(run("openssl", "pkcs7", "-inform", "DER", "-in", p7, "-print_certs"))
    return pem


def test_enroll_reenroll_revoke(est: CA, tmp_path: Path) -> None:
    status, body, headers = curl(est, "devices/cacerts")
    assert status == 200
    assert "application/pkcs7-mime; smime-type=certs-only" in headers.read_text().lower()
    chain = certificates(tmp_path, "cacerts", body).read_text()
    assert chain.count("BEGIN CERTIFICATE") == 2

    key, request = pkcs10(tmp_path, "dev1.example", "first")
    upload = ("-H", "Content-Type: application/pkcs10", "--data-binary", f"@{request}")
    assert curl(est, "devices/simpleenroll", *upload, "-u", "dev:wrong")[0] == 401
    status, body, _ = curl(est, "devices/simpleenroll", *upload, "-u", f"dev:{SECRET}")
    assert status == 200, body
    leaf = certificates(tmp_path, "dev1", body)
    run("openssl", "verify", "-CAfile", est.root, "-untrusted", est.intermediate, leaf)
    subject = run("openssl", "x509", "-in", leaf, "-noout", "-subject", "-ext", "subjectAltName").decode()
    assert "CN = dev1.example" in subject and "DNS:dev1.example" in subject

    mtls = ("--cert", leaf, "--key", key)
    _, renewal = pkcs10(tmp_path, "dev1.example", "renewal")
    status, body, _ = curl(est, "devices/simplereenroll", *mtls, "-H", "Content-Type: application/pkcs10",
                           "--data-binary", f"@{renewal}")
    assert status == 200, body
    renewed = certificates(tmp_path, "dev1-renewed", body)
    run("openssl", "verify", "-CAfile", est.root, "-untrusted", est.intermediate, renewed)

    _, other = pkcs10(tmp_path, "dev2.example", "other")
    status, body, _ = curl(est, "devices/simplereenroll", *mtls, "-H", "Content-Type: application/pkcs10",
                           "--data-binary", f"@{other}")
    assert status == 400 and b"subject and subjectAltName" in body
    assert curl(est, "bycert/simpleenroll", "-H", "Content-Type: application/pkcs10",
                "--data-binary", f"@{other}")[0] == 401  # no certificate, and this provisioner has no secret
    status, body, _ = curl(est, "bycert/simpleenroll", *mtls, "-H", "Content-Type: application/pkcs10",
                           "--data-binary", f"@{other}")
    assert status == 200, body  # a client certificate under the provisioner's roots enrols
    run("openssl", "verify", "-CAfile", est.root, "-untrusted", est.intermediate, certificates(tmp_path, "dev2", body))

    serial = run("openssl", "x509", "-in", leaf, "-noout", "-serial").decode().strip().split("=")[1]
    revoked = subprocess.run(["curl", "-sS", "--cacert", str(est.root), "--cert", str(leaf), "--key", str(key),
                              "-H", "content-type: application/json", "--data",
                              json.dumps({"serial": str(int(serial, 16)), "reasonCode": 1, "passive": True}),
                              f"{est.url}/revoke"], capture_output=True, text=True, timeout=30)
    assert json.loads(revoked.stdout) == {"status": "ok"}, revoked.stdout + revoked.stderr
    status, body, _ = curl(est, "devices/simplereenroll", *mtls, "-H", "Content-Type: application/pkcs10",
                           "--data-binary", f"@{renewal}")
    assert (status, body) == (403, b"the client certificate has been revoked\n")
    status, body, _ = curl(est, "bycert/simpleenroll", *mtls, "-H", "Content-Type: application/pkcs10",
                           "--data-binary", f"@{other}")
    assert (status, body) == (403, b"the client certificate has been revoked\n")
