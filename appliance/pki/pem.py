"""Certificates on disk (PEM bundles or DER) and fingerprints."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from appliance.errors import BadRequest


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, or the one in a DER file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadRequest(f"cannot read certificate {path}: {exc.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            certificates = x509.load_pem_x509_certificates(data)
        else:
            certificates = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise BadRequest(f"{path} holds no readable certificate") from None
    return certificates


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER, lowercase hex: step's root fingerprint."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def to_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
