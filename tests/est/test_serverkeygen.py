"""EST server-side key generation (RFC 7030 section 4.4) in process, spoken by the RFC-written
client (``rfc7030_client``): the multipart reply, the PKCS#8 key read by ``openssl pkey``, the
encrypted key opened by ``openssl cms -decrypt`` with the TLS client's RSA key and its
SignedData verified by ``openssl cms -verify``; every refusal issues nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from appliance.api import create_app
from tests.est.openssl_checks import open_server_generated_key, same_public_key
from tests.est.rfc7030_client import ASYMMETRIC_DECRYPT_KEY_ID, DECRYPT_KEY_ID, EstClient, EstRefused, pkcs10
from tests.est.test_est import EST, SECRET, Env, openssl_verify, start

KEYGEN = {**EST, "name": "keygen", "serverKeyGen": True}


class ClientCertificate:
    """The ASGI TLS extension a TLS server fills in, with a fixed client certificate."""

    def __init__(self, app: ASGIApp, certificate: x509.Certificate | None) -> None:
        self.app, self.certificate = app, certificate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.certificate is not None:
            pem = self.certificate.public_bytes(Encoding.PEM).decode()
            scope = {**scope, "extensions": {**scope.get("extensions", {}), "tls": {"client_cert_chain": [pem]}}}
        await self.app(scope, receive, send)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    ca, authority = start(tmp_path, KEYGEN, EST)
    yield Env(ca, authority, TestClient(create_app(authority), base_url="https://ca.test"))
    authority.database.close()  # type: ignore[attr-defined]


def client(env: Env, label: str = "keygen", certificate: x509.Certificate | None = None,
           secret: str = SECRET) -> EstClient:
    http = TestClient(ClientCertificate(create_app(env.authority), certificate), base_url="https://ca.test")
    http.auth = ("device", secret)
    return EstClient(http, "https://ca.test", label)


@pytest.mark.parametrize("expected", ["secp384r1", "rsa2048"])
def test_serverkeygen_returns_pkcs8_and_the_certificate(env: Env, tmp_path: Path, expected: str) -> None:
    """The new key is of the CSR key's type (curve or RSA size), and not the CSR's key."""
    request_key = ec.generate_private_key(ec.SECP384R1()) if expected == "secp384r1" \
        else rsa.generate_private_key(65537, 2048)
    reply = client(env).serverkeygen(pkcs10(request_key, "cam1.devices.test"))
    assert (reply.media_type, reply.smime_type) == ("application/pkcs8", None)
    (tmp_path / "key.der").write_bytes(reply.key)
    same_public_key(tmp_path / "key.der", reply.certificate)
    openssl_verify(env, reply.certificate, tmp_path)
    assert reply.certificate.public_key() != request_key.public_key()
    key = reply.certificate.public_key()
    assert isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey))
    assert (key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else f"rsa{key.key_size}") == expected
    assert reply.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.DNSName) == ["cam1.devices.test"]
    validity = reply.certificate.not_valid_after_utc - reply.certificate.not_valid_before_utc
    assert validity.total_seconds() == 72 * 3600 + 60  # the provisioner's claims (and backdate)
    assert env.issued() == 1


def tls_client(env: Env, tmp_path: Path) -> tuple[x509.Certificate, Path, Path]:
    """An RSA key enrolled through /simpleenroll: the TLS client certificate and its files."""
    key = rsa.generate_private_key(65537, 2048)
    certificate = client(env, "devices").simpleenroll(pkcs10(key, "client.devices.test"))
    (tmp_path / "client.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
    (tmp_path / "client.key").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return certificate, tmp_path / "client.pem", tmp_path / "client.key"


def test_serverkeygen_encrypts_for_the_tls_client_key(env: Env, tmp_path: Path) -> None:
    certificate, certificate_file, key_file = tls_client(env, tmp_path)
    key_id = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    request = pkcs10(ec.generate_private_key(ec.SECP256R1()), "cam2.devices.test",
                     ((ASYMMETRIC_DECRYPT_KEY_ID, core.OctetString(key_id)),))
    reply = client(env, certificate=certificate).serverkeygen(request)
    assert (reply.media_type, reply.smime_type) == ("application/pkcs7-mime", "server-generated-key")
    key = open_server_generated_key(reply.key, certificate_file, key_file, env.ca.root_path, tmp_path)
    same_public_key(key, reply.certificate)
    openssl_verify(env, reply.certificate, tmp_path)
    wrong_key = rsa.generate_private_key(65537, 2048).private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    (tmp_path / "wrong.key").write_bytes(wrong_key)
    assert subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-in", str(tmp_path / "reply.p7"),
                           "-recip", str(certificate_file), "-inkey", str(tmp_path / "wrong.key")],
                          capture_output=True).returncode != 0


def test_refused_serverkeygen_issues_nothing(env: Env, tmp_path: Path) -> None:
    certificate, _, _ = tls_client(env, tmp_path)
    ec_certificate = client(env, "devices").simpleenroll(pkcs10(ec.generate_private_key(ec.SECP256R1()),
                                                                "ec.devices.test"))
    issued = env.issued()
    key_id = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    ec_key_id = ec_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    new = ec.generate_private_key(ec.SECP256R1())
    plain = client(env)
    cases = [
        (client(env, "devices"), pkcs10(new, "a.devices.test"), 400, "serverKeyGen is false"),
        (client(env, secret="wrong"), pkcs10(new, "a.devices.test"), 401, "wrong or missing credentials"),
        (plain, b"garbage", 400, "PKCS#10"),
        (plain, pkcs10(new, "printer.example.test"), 403, "printer.example.test"),
        (plain, pkcs10(rsa.generate_private_key(65537, 1024), "a.devices.test"), 403, "at least 2048"),
        (plain, pkcs10(new, "a.devices.test", ((DECRYPT_KEY_ID, core.OctetString(b"k1")),)), 400,
         "DecryptKeyIdentifier"),
        (plain, pkcs10(new, "a.devices.test", ((ASYMMETRIC_DECRYPT_KEY_ID, core.OctetString(key_id)),)), 400,
         "names no key"),  # no TLS client certificate
        (client(env, certificate=certificate), pkcs10(new, "a.devices.test", (
            (ASYMMETRIC_DECRYPT_KEY_ID, core.OctetString(b"other")),)), 400, "names no key"),
        (client(env, certificate=ec_certificate), pkcs10(new, "a.devices.test", (
            (ASYMMETRIC_DECRYPT_KEY_ID, core.OctetString(ec_key_id)),)), 400, "must be RSA"),
        (plain, pkcs10(new, "a.devices.test", ((ASYMMETRIC_DECRYPT_KEY_ID, core.Integer(1)),)), 400,
         "malformed"),
    ]
    for est, request, status, says in cases:
        with pytest.raises(EstRefused) as refused:
            est.serverkeygen(request)
        assert (refused.value.status, says in refused.value.text) == (status, True), refused.value.text
        if status == 401:
            assert refused.value.challenge == 'Basic realm="EST"'
    assert env.issued() == issued
