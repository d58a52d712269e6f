"""Checks every backend passes: artefacts made with its signer verify with
independent tools (openssl for X.509, ssh-keygen for SSH)."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

from tests.conftest import run_openssl


def _hash_for(key: PrivateKeyTypes) -> hashes.HashAlgorithm | None:
    """The hash that fits the key: cloud KMSs bind P-384 to SHA-384 (ES384)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA512()
    return hashes.SHA256()


def _rsa_padding(signer: PrivateKeyTypes, pss: bool) -> padding.PSS | None:
    if pss and isinstance(signer, rsa.RSAPrivateKey):
        return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    return None


def self_signed_ca(signer: PrivateKeyTypes, name: str = "KMS test CA", *, pss: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(signer.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    )
    return builder.sign(signer, _hash_for(signer), rsa_padding=_rsa_padding(signer, pss))


def verify_artefacts(signer: PrivateKeyTypes, workdir: Path, *, ssh: bool = True, pss: bool = False) -> None:
    """Sign a root certificate, a CRL, a CSR and (optionally) an SSH certificate
    with ``signer`` (RSA-PSS with ``pss``), and verify each with openssl / ssh-keygen."""
    now = datetime.datetime.now(datetime.timezone.utc)
    rsa_padding = _rsa_padding(signer, pss)
    ca = self_signed_ca(signer, pss=pss)
    ca_pem = workdir / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    run_openssl("verify", "-CAfile", ca_pem, ca_pem)

    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(4242).revocation_date(now).build()
        )
        .add_extension(x509.CRLNumber(1), critical=False)
        .sign(signer, _hash_for(signer), rsa_padding=rsa_padding)
    )
    crl_pem = workdir / "ca.crl"
    crl_pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    listing = run_openssl("crl", "-in", crl_pem, "-CAfile", ca_pem, "-noout", "-verify", "-text")
    assert "1092" in listing.stdout  # 4242 in hex

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr.example")]))
        .sign(signer, _hash_for(signer), rsa_padding=rsa_padding)
    )
    csr_pem = workdir / "req.pem"
    csr_pem.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    run_openssl("req", "-in", csr_pem, "-verify", "-noout")

    if ssh:
        verify_ssh_certificate(signer, workdir)


def verify_ssh_certificate(signer: PrivateKeyTypes, workdir: Path) -> None:
    """An SSH user certificate signed by ``signer`` that ssh-keygen accepts."""
    user_key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        serialization.ssh.SSHCertificateBuilder()
        .public_key(user_key.public_key())
        .serial(7)
        .type(serialization.ssh.SSHCertificateType.USER)
        .key_id(b"kms-test")
        .valid_principals([b"alice"])
        .valid_after(0)
        .valid_before(2**63)
        .sign(signer)
    )
    path = workdir / "user-cert.pub"
    path.write_bytes(cert.public_bytes())
    # ssh-keygen -L parses the certificate and rejects one whose CA signature is bad.
    listing = subprocess.run(["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert "alice" in listing.stdout
