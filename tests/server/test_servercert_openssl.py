"""The server certificate must be one the workers' OpenSSL loads: under an ML-DSA
intermediate, OpenSSL before 3.5 (Debian 12 has 3.0) refuses it, and ``appliance serve``
says so before any worker starts instead of failing in the workers."""

from __future__ import annotations

import datetime
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, mldsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

from appliance.authority.interfaces import IssuedCertificate
from appliance.errors import BadRequest
from appliance.pki.keys import signature_hash
from appliance.server.servercert import tls_material
from tests.conftest import APPLIANCE
from tests.e2e.harness import init_ca

NOW = datetime.datetime.now(datetime.timezone.utc)
OLD_OPENSSL = ssl.OPENSSL_VERSION_INFO < (3, 5)


def _issued(issuer_key: PrivateKeyTypes, leaf_key: ec.EllipticCurvePrivateKey) -> IssuedCertificate:
    def certificate(subject: str, key: object, issuer: str, signer: PrivateKeyTypes) -> x509.Certificate:
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                .public_key(key).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
                .not_valid_before(NOW - datetime.timedelta(minutes=1)).not_valid_after(NOW + datetime.timedelta(hours=1))
                .sign(signer, signature_hash(signer)))  # type: ignore[arg-type]

    intermediate = certificate("Intermediate", issuer_key.public_key(), "Intermediate", issuer_key)
    return IssuedCertificate(certificate("localhost", leaf_key.public_key(), "Intermediate", issuer_key), (intermediate,))


def test_a_classic_chain_loads() -> None:
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    material = tls_material(leaf_key, _issued(ec.generate_private_key(ec.SECP256R1()), leaf_key), [])
    assert material.cert_pem.count(b"BEGIN CERTIFICATE") == 2


@pytest.mark.skipif(not OLD_OPENSSL, reason="OpenSSL 3.5+ knows ML-DSA")
def test_an_ml_dsa_chain_is_refused_by_openssl_before_3_5_with_the_reason() -> None:
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(BadRequest, match=r"cannot serve TLS with the server certificate the intermediate signs "
                                         r"\(ML-DSA-65\).*needs OpenSSL 3.5 or newer"):
        tls_material(leaf_key, _issued(mldsa.MLDSA65PrivateKey.generate(), leaf_key), [])


@pytest.mark.slow
@pytest.mark.skipif(not OLD_OPENSSL, reason="OpenSSL 3.5+ knows ML-DSA")
def test_serve_refuses_an_ml_dsa_intermediate_before_starting_workers(tmp_path: Path) -> None:
    ca = init_ca(tmp_path / "pq", "--kty", "ML-DSA-44")
    result = subprocess.run([str(APPLIANCE), "serve", str(ca.ca_json), "--password-file", str(ca.password_file)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "error: " in result.stderr and "an ML-DSA intermediate needs OpenSSL 3.5 or newer" in result.stderr
    assert "Traceback" not in result.stderr and "workers" not in result.stderr.splitlines()[-1]
