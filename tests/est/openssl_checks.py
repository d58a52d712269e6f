"""openssl as the independent reader of what an EST server returns: the certificate chain
(``openssl verify``), a PKCS#8 key (``openssl pkey``) and an encrypted server-generated key
(``openssl cms -decrypt``, then ``openssl cms -verify`` of the CA's SignedData)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def run(*args: str | Path, stdin: bytes | None = None) -> bytes:
    result = subprocess.run([str(a) for a in args], input=stdin, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def verify(certificate: x509.Certificate, root: Path, intermediate: Path, work: Path) -> None:
    """``openssl verify`` of the certificate under the root, through the intermediate."""
    path = work / f"leaf-{certificate.serial_number}.pem"
    path.write_bytes(certificate.public_bytes(Encoding.PEM))
    run("openssl", "verify", "-CAfile", root, "-untrusted", intermediate, path)


def same_public_key(key_der: Path, certificate: x509.Certificate) -> None:
    """openssl pkey reads the DER private key; its public key is the certificate's."""
    public = run("openssl", "pkey", "-inform", "DER", "-in", key_der, "-pubout")
    assert public == certificate.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def open_server_generated_key(envelope: bytes, recipient_certificate: Path, recipient_key: Path, root: Path,
                              work: Path) -> Path:
    """The DER private key inside an ``application/pkcs7-mime; smime-type=server-generated-key``
    part (RFC 7030 section 4.4.2): openssl decrypts the EnvelopedData with the recipient's key,
    verifies the SignedData under ``root``, and cuts the first OneAsymmetricKey out of the
    AsymmetricKeyPackage."""
    (work / "reply.p7").write_bytes(envelope)
    signed, package, key = work / "signed.der", work / "package.der", work / "key.der"
    run("openssl", "cms", "-decrypt", "-inform", "DER", "-in", work / "reply.p7", "-recip", recipient_certificate,
        "-inkey", recipient_key, "-binary", "-out", signed)
    run("openssl", "cms", "-verify", "-inform", "DER", "-in", signed, "-binary", "-CAfile", root,
        "-purpose", "any", "-out", package)
    structure = run("openssl", "asn1parse", "-inform", "DER", "-in", package).decode().splitlines()
    offset = structure[1].split(":")[0].strip()
    run("openssl", "asn1parse", "-inform", "DER", "-in", package, "-offset", offset, "-noout", "-out", key)
    return key
