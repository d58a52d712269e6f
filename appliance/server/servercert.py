"""The files of the server's own TLS certificate (issued by the authority to
itself for its dnsNames, so it is recorded) that the workers' TLS contexts load."""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.pki.clock import utc_now
from appliance.pki.pem import to_pem
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
    not_after: datetime.datetime


def write_tls_files(directory: Path, key: ec.EllipticCurvePrivateKey, issued: IssuedCertificate,
                    client_cas: list[x509.Certificate], generation: int,
                    now: datetime.datetime | None = None) -> TLSFiles:
    """Write the chain, the encrypted key and the client CA bundle for one generation
    (issued at ``now``, by default the wall clock's)."""
    password = secrets.token_urlsafe(32).encode()
    files = TLSFiles(
        cert=directory / f"server-{generation}.crt",
        key=directory / f"server-{generation}.key",
        key_password=password,
        client_cas=directory / f"client-cas-{generation}.crt",
        renew_at=renew_at(issued.certificate, now or utc_now()),
        not_after=issued.certificate.not_valid_after_utc,
    )
    files.cert.write_text("".join(to_pem(c) for c in (issued.certificate, *issued.chain)))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(password)))
    files.client_cas.write_text("".join(to_pem(c) for c in client_cas))
    return files


def renew_at(certificate: x509.Certificate, now: datetime.datetime) -> datetime.datetime:
    """2/3 of the lifetime counted from issuance (``now``), not from the backdated
    not-before: a short-lived certificate must not look due the moment it is made."""
    start, end = max(certificate.not_valid_before_utc, now), certificate.not_valid_after_utc
    return start + (end - start) * RENEW_AT
