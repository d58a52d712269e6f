"""The wire format against an independent client made of openssl commands, and bad input:
every refusal is a CertRep FAILURE with its failInfo (or a 400 where none can be addressed),
nothing is issued, nothing crashes."""

from __future__ import annotations

import base64
import datetime
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from appliance.errors import BadRequest
from appliance.kms.softkms import encrypted_pem
from tests.ca_fixtures import PASSWORD, build_ca
from tests.scep.conftest import CHALLENGE, ScepEnv, add_provisioners, openssl_verify, pem_b64, scep_provisioner, start_scep
from tests.scep.openssl_client import OpensslClient

pytestmark = pytest.mark.slow


def post(env: ScepEnv, message: bytes, provisioner: str = "scep") -> httpx.Response:
    return httpx.post(env.url(provisioner) + "?operation=PKIOperation", content=message,
                      headers={"Content-Type": "application/x-pki-message"}, timeout=30)


@pytest.mark.parametrize("cipher", ["-aes128", "-aes256", "-des3", "-des"])
def test_openssl_client_enrols_with_each_content_cipher(env: ScepEnv, tmp_path: Path, cipher: str) -> None:
    client = OpensslClient(tmp_path / "client")
    before = env.issued()
    response = post(env, client.request(env.ca.intermediate_path, CHALLENGE, cipher=cipher, transaction_id=f"tx{cipher}"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-pki-message"
    reply = client.read_reply(response.content, env.ca.root_path)
    assert (reply["messageType"], reply["pkiStatus"], reply["transactionID"]) == ("3", "0", f"tx{cipher}")
    openssl_verify(env.ca, Path(reply["certificate"]))
    assert env.issued() == before + 1


def test_pkioperation_by_get_with_a_base64_message(env: ScepEnv, tmp_path: Path) -> None:
    client = OpensslClient(tmp_path / "client")
    message = base64.b64encode(client.request(env.ca.intermediate_path, CHALLENGE)).decode()
    response = httpx.get(env.http.url("/1.0/scep/scep"), params={"operation": "PKIOperation", "message": message})
    reply = client.read_reply(response.content, env.ca.root_path)
    assert reply["pkiStatus"] == "0"
    openssl_verify(env.ca, Path(reply["certificate"]))


def test_get_ca_caps_and_ca_certificates(env: ScepEnv, tmp_path: Path) -> None:
    caps = httpx.get(env.url(), params={"operation": "GetCACaps"}).text.split("\n")
    assert {"AES", "SHA-256", "SHA-512", "POSTPKIOperation", "Renewal", "SCEPStandard"} <= set(caps)
    single = httpx.get(env.url(), params={"operation": "GetCACert"})
    assert single.headers["content-type"] == "application/x-x509-ca-cert"
    assert x509.load_der_x509_certificate(single.content) == env.ca.intermediate
    chain = httpx.get(env.url("chain"), params={"operation": "GetCACert"})
    assert chain.headers["content-type"] == "application/x-x509-ca-ra-cert"
    (tmp_path / "chain.p7").write_bytes(chain.content)
    printed = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", str(tmp_path / "chain.p7"),
                              "-print_certs"], capture_output=True, text=True, check=True).stdout
    assert printed.count("BEGIN CERTIFICATE") == 2
    assert "Test Intermediate CA" in printed and "Test Root CA" in printed


def test_the_https_app_serves_scep_too(env: ScepEnv) -> None:
    from starlette.testclient import TestClient

    from appliance.api import create_app

    with TestClient(create_app(env.authority, scep=env.scep), base_url="https://ca.test") as http:
        for path in ("/scep/scep", "/1.0/scep/scep"):
            assert "POSTPKIOperation" in http.get(path, params={"operation": "GetCACaps"}).text
            assert http.get(path, params={"operation": "GetCACert"}).content == env.ca.intermediate.public_bytes(
                serialization.Encoding.DER)


def _failure(env: ScepEnv, client: OpensslClient, message: bytes, provisioner: str = "scep") -> str:
    before = env.issued()
    response = post(env, message, provisioner)
    assert response.status_code == 200
    reply = client.read_reply(response.content, env.ca.root_path)
    assert reply["pkiStatus"] == "2" and "certificate" not in reply
    assert env.issued() == before
    return reply["failInfo"]


def test_bad_requests_are_certrep_failures(env: ScepEnv, tmp_path: Path) -> None:
    client = OpensslClient(tmp_path / "client")
    intermediate = env.ca.intermediate_path
    assert _failure(env, client, client.request(intermediate, "wrong")) == "2"  # badRequest
    assert _failure(env, client, client.request(env.ca.root_path, CHALLENGE)) == "1"  # wrong recipient
    assert _failure(env, client, client.request(intermediate, CHALLENGE, digest="md5")) == "0"  # badAlg
    assert _failure(env, client, client.request(intermediate, CHALLENGE, message_type="99")) == "2"
    assert _failure(env, client, client.request(intermediate, CHALLENGE), "chain") == "2"  # 2048 < 3072 bits


def test_a_tampered_message_fails_its_check(env: ScepEnv, tmp_path: Path) -> None:
    client = OpensslClient(tmp_path / "client")
    message = bytearray(client.request(env.ca.intermediate_path, CHALLENGE))
    message[-1] ^= 1  # the signature
    assert _failure(env, client, bytes(message)) == "1"  # badMessageCheck


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x30\x82\x01", b"\x30\x03\x02\x01\x01"])
def test_garbage_and_truncated_messages_are_400(env: ScepEnv, body: bytes, tmp_path: Path) -> None:
    before = env.issued()
    assert post(env, body).status_code == 400
    client = OpensslClient(tmp_path / "client")
    truncated = client.request(env.ca.intermediate_path, CHALLENGE)[:300]
    assert post(env, truncated).status_code == 400
    assert httpx.get(env.url(), params={"operation": "Nope"}).status_code == 400
    assert httpx.get(env.url("missing"), params={"operation": "GetCACaps"}).status_code == 404
    assert env.issued() == before


def _decrypter(tmp_path: Path, issuer: x509.Certificate, issuer_key: rsa.RSAPrivateKey | object) -> tuple[x509.Certificate, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=SCEP decrypter"))
                   .issuer_name(issuer.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
                   .sign(issuer_key, hashes.SHA256()))  # type: ignore[arg-type]
    path = tmp_path / "decrypter.key"
    path.write_bytes(encrypted_pem(key, b"decrypter password"))
    return certificate, path


def test_an_ec_intermediate_with_a_softkms_decrypter(tmp_path: Path) -> None:
    """The decrypter key behind a softkms URI; the EC intermediate signs the CertRep.
    ``excludeIntermediate``: scepclient 2.1 encrypts to every GetCACert certificate and
    panics on an EC one, so GetCACert returns the decrypter's certificate alone."""
    ca = build_ca(tmp_path / "ca")
    certificate, key_path = _decrypter(tmp_path, ca.intermediate, ca.intermediate_key)
    add_provisioners(ca, scep_provisioner(decrypterCertificate=pem_b64(certificate),
                                          decrypterKey=f"softkms:path={key_path}",
                                          decrypterKeyPassword="decrypter password", excludeIntermediate=True))
    env = start_scep(ca)
    try:
        cacert = httpx.get(env.url(), params={"operation": "GetCACert"})
        assert cacert.headers["content-type"] == "application/x-x509-ca-cert"
        assert x509.load_der_x509_certificate(cacert.content) == certificate
        recipient = tmp_path / "decrypter.pem"
        recipient.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        client = OpensslClient(tmp_path / "client")
        reply = client.read_reply(post(env, client.request(recipient, CHALLENGE)).content, ca.root_path)
        assert reply["pkiStatus"] == "0"
        openssl_verify(ca, Path(reply["certificate"]))
        work = tmp_path / "scepclient"
        work.mkdir()
        result = subprocess.run(["scepclient", "-server-url", env.url(), "-challenge", CHALLENGE, "-cn", "laptop",
                                 "-private-key", str(work / "key.pem"), "-certificate", str(work / "cert.pem")],
                                capture_output=True, text=True, cwd=work, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        openssl_verify(ca, work / "cert.pem")
    finally:
        env.close()


def test_an_ec_intermediate_without_a_decrypter_refuses_to_start(tmp_path: Path) -> None:
    ca = build_ca(tmp_path)
    add_provisioners(ca, scep_provisioner())
    with pytest.raises(BadRequest, match="SCEP provisioner 'scep': SCEP needs an RSA key.*decrypterKey"):
        start_scep(ca)
    assert PASSWORD


def test_a_sha1_request_gets_a_sha256_reply(env: ScepEnv, tmp_path: Path) -> None:
    """scepclient 2.1 signs with SHA-1; the CA answers, and signs no SHA-1 itself."""
    client = OpensslClient(tmp_path / "client")
    reply = client.read_reply(post(env, client.request(env.ca.intermediate_path, CHALLENGE, digest="sha1")).content,
                              env.ca.root_path)
    assert reply["pkiStatus"] == "0"
    printed = subprocess.run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in",
                              str(tmp_path / "client" / "reply.der")], capture_output=True, text=True, check=True).stdout
    assert "algorithm: sha256" in printed and "algorithm: sha1 " not in printed
