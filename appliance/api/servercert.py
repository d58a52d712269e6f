"""The server's own TLS certificate: a fresh key, a certificate the CA issues to
itself for its dnsNames (through the authority, so it is recorded), and the
files the workers' TLS contexts load."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.api.schemas import to_pem
from appliance.authority.interfaces import IssuedCertificate

RENEW_AT = 2 / 3  # of the certificate's lifetime, as step-ca renews its own


@dataclass(frozen=True)
class TLSFiles:
    """What a worker needs for its TLS context; the key is encrypted with ``key_password``."""

    cert: Path
    key: Path
    key_password: bytes
    client_cas: Path
    renew_at: datetime.datetime


def general_names(dns_names: tuple[str, ...]) -> list[x509.GeneralName]:
    """DNS names and IP addresses, as SANs."""
    names: list[x509.GeneralName] = []
    for name in dns_names:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def server_csr(key: ec.EllipticCurvePrivateKey, dns_names: tuple[str, ...]) -> x509.CertificateSigningRequest:
    """A CSR for the server's names (the first is the subject)."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, dns_names[0])]))
        .add_extension(x509.SubjectAlternativeName(general_names(dns_names)), critical=False)
        .sign(key, hashes.SHA256())
    )


def write_tls_files(directory: Path, key: ec.EllipticCurvePrivateKey, issued: IssuedCertificate,
                    client_cas: list[x509.Certificate], generation: int) -> TLSFiles:
    """Write the chain, the encrypted key and the client CA bundle for one generation."""
    password = secrets.token_urlsafe(32).encode()
    files = TLSFiles(
        cert=directory / f"server-{generation}.crt",
        key=directory / f"server-{generation}.key",
        key_password=password,
        client_cas=directory / f"client-cas-{generation}.crt",
        renew_at=_renew_at(issued.certificate),
    )
    files.cert.write_text("".join(to_pem(c) for c in (issued.certificate, *issued.chain)))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(password)))
    files.client_cas.write_text("".join(to_pem(c) for c in client_cas))
    return files


def _renew_at(certificate: x509.Certificate) -> datetime.datetime:
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return start + (end - start) * RENEW_AT
