"""EST (RFC 7030) against ``appliance serve`` (one server for the module) with two
independent clients.

curl and openssl: openssl makes the PKCS#10 (DER, base64), curl posts it with HTTP basic
auth or over mTLS, openssl reads the certs-only PKCS#7 back and verifies the chain;
re-enrolment with the certificate being renewed, then refused once it is revoked.

The client in ``tests/est/rfc7030_client.py``, written from the RFC (httpx, cryptography,
asn1crypto; no appliance code): cacerts, csrattrs, simpleenroll with HTTP basic,
simplereenroll with the TLS client certificate, serverkeygen in both forms, every artefact
read back by openssl; then the refusals with the RFC's statuses: garbage PKCS#10 (400),
wrong credentials (401 and WWW-Authenticate), re-enrolment with a revoked certificate (403),
serverkeygen where the provisioner turns it off (400)."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tests.e2e.harness import CA, Server, init_ca, start_server
from tests.est.openssl_checks import open_server_generated_key, same_public_key, verify
from tests.est.rfc7030_client import ASYMMETRIC_DECRYPT_KEY_ID, EstClient, EstRefused
from tests.est.rfc7030_client import pkcs10 as rfc_pkcs10

pytestmark = pytest.mark.slow

SECRET = "e2e-est-secret"


@pytest.fixture(scope="module")
def est(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CA]:
    ca = init_ca(tmp_path_factory.mktemp("est-ca"))
    data = ca.data()
    provisioners = data["authority"]["provisioners"]
    provisioners.append({"type": "EST", "name": "devices", "username": "dev", "secret": SECRET, "serverKeyGen": True})
    provisioners.append({"type": "EST", "name": "nokeygen", "username": "dev", "secret": SECRET})
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


# -- the RFC-written client ----------------------------------------------------------

Client = Callable[..., EstClient]


@pytest.fixture
def client(est: CA) -> Iterator[Client]:
    """EST clients for a label, basic secret and TLS client certificate; closed after the test."""
    opened: list[httpx.Client] = []

    def make(label: str = "devices", secret: str = SECRET, tls: tuple[Path, Path] | None = None) -> EstClient:
        context = ssl.create_default_context(cafile=est.root)
        if tls:
            context.load_cert_chain(tls[0], tls[1])
        opened.append(httpx.Client(verify=context, auth=("dev", secret), timeout=30))
        return EstClient(opened[-1], est.url, label)

    yield make
    for http in opened:
        http.close()


def enrolled_rsa(client: Client, work: Path, name: str) -> tuple[x509.Certificate, Path, Path]:
    """An RSA key enrolled with HTTP basic: its certificate and the two PEM files for TLS."""
    key = rsa.generate_private_key(65537, 2048)
    certificate = client().simpleenroll(rfc_pkcs10(key, name))
    (work / f"{name}.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
    (work / f"{name}.key").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return certificate, work / f"{name}.pem", work / f"{name}.key"


def test_every_operation_with_the_rfc_client(est: CA, client: Client, tmp_path: Path) -> None:
    chain = client().cacerts()
    assert {c.public_bytes(Encoding.PEM) for c in chain} == {est.root.read_bytes().strip() + b"\n",
                                                              est.intermediate.read_bytes().strip() + b"\n"}
    assert client().csrattrs() is None

    certificate, certificate_file, key_file = enrolled_rsa(client, tmp_path, "dev1.example")
    verify(certificate, est.root, est.intermediate, tmp_path)
    renewed = client(tls=(certificate_file, key_file)).simplereenroll(
        rfc_pkcs10(rsa.generate_private_key(65537, 2048), "dev1.example"))
    verify(renewed, est.root, est.intermediate, tmp_path)
    assert renewed.subject == certificate.subject and renewed.serial_number != certificate.serial_number

    plain = client().serverkeygen(rfc_pkcs10(ec.generate_private_key(ec.SECP256R1()), "dev2.example"))
    assert (plain.media_type, plain.smime_type) == ("application/pkcs8", None)
    (tmp_path / "plain.der").write_bytes(plain.key)
    same_public_key(tmp_path / "plain.der", plain.certificate)
    verify(plain.certificate, est.root, est.intermediate, tmp_path)
    for path in est.path.rglob("*"):  # ca.json, keys, the database, the server's log
        if path.is_file():
            content = path.read_bytes()
            assert plain.key not in content and base64.b64encode(plain.key)[:64] not in content, path

    key_id = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    encrypted = client(tls=(certificate_file, key_file)).serverkeygen(rfc_pkcs10(
        ec.generate_private_key(ec.SECP256R1()), "dev3.example", ((ASYMMETRIC_DECRYPT_KEY_ID, core.OctetString(key_id)),)))
    assert (encrypted.media_type, encrypted.smime_type) == ("application/pkcs7-mime", "server-generated-key")
    key = open_server_generated_key(encrypted.key, certificate_file, key_file, est.root, tmp_path)
    same_public_key(key, encrypted.certificate)
    verify(encrypted.certificate, est.root, est.intermediate, tmp_path)


def refusal(call: object) -> EstRefused:
    with pytest.raises(EstRefused) as refused:
        call()  # type: ignore[operator]
    return refused.value


def test_bad_input_is_refused_with_the_rfc_statuses(est: CA, client: Client, tmp_path: Path) -> None:
    request = rfc_pkcs10(ec.generate_private_key(ec.SECP256R1()), "dev4.example")
    garbage = refusal(lambda: client().simpleenroll(b"\x30\x03garbage"))
    assert garbage.status == 400 and "PKCS#10" in garbage.text
    wrong = refusal(lambda: client(secret="wrong").simpleenroll(request))
    assert (wrong.status, wrong.challenge) == (401, 'Basic realm="EST"')
    disabled = refusal(lambda: client("nokeygen").serverkeygen(request))
    assert disabled.status == 400 and "serverKeyGen is false" in disabled.text

    certificate, certificate_file, key_file = enrolled_rsa(client, tmp_path, "dev5.example")
    with est.client(cert=(str(certificate_file), str(key_file))) as http:
        revoked = http.post("/revoke", json={"serial": str(certificate.serial_number), "reasonCode": 1,
                                             "passive": True})
    assert json.loads(revoked.text) == {"status": "ok"}
    again = refusal(lambda: client(tls=(certificate_file, key_file)).simplereenroll(
        rfc_pkcs10(rsa.generate_private_key(65537, 2048), "dev5.example")))
    assert (again.status, again.text) == (403, "the client certificate has been revoked\n")
