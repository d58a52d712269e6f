"""The server's own TLS certificate (issued by the authority to itself for its
dnsNames, so it is recorded) and key that the workers' TLS contexts load."""

from __future__ import annotations

import contextlib
import datetime
import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.errors import BadRequest
from appliance.pki.clock import utc_now
from appliance.pki.pem import to_pem
from appliance.authority.interfaces import IssuedCertificate

RENEW_AT = 2 / 3  # of the certificate's lifetime, as step-ca renews its own


@dataclass(frozen=True)
class TLSMaterial:
    """What a worker needs for its TLS context, in memory only (handed over in the
    worker's spec, never written to a file): the chain and the key, encrypted with
    ``key_password``, as PEM, and the client CA bundle."""

    cert_pem: bytes
    key_pem: bytes
    key_password: bytes
    client_cas_pem: bytes
    renew_at: datetime.datetime
    not_after: datetime.datetime


def tls_material(key: ec.EllipticCurvePrivateKey, issued: IssuedCertificate,
                 client_cas: list[x509.Certificate], now: datetime.datetime | None = None) -> TLSMaterial:
    """The chain, the encrypted key and the client CA bundle of one generation
    (issued at ``now``, by default the wall clock's)."""
    password = secrets.token_urlsafe(32).encode()
    material = TLSMaterial(
        cert_pem="".join(to_pem(c) for c in (issued.certificate, *issued.chain)).encode(),
        key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(password)),
        key_password=password,
        client_cas_pem="".join(to_pem(c) for c in client_cas).encode(),
        renew_at=renew_at(issued.certificate, now or utc_now()),
        not_after=issued.certificate.not_valid_after_utc,
    )
    check_openssl_accepts(material, issued.certificate)
    return material


def check_openssl_accepts(material: TLSMaterial, certificate: x509.Certificate) -> None:
    """The workers' OpenSSL loads the chain, or ``BadRequest`` saying why, before any
    worker starts. OpenSSL before 3.5 refuses a certificate signed with an algorithm
    it does not know (ML-DSA: "ca md too weak"), so a CA whose intermediate key is
    ML-DSA cannot serve its API over TLS with it there."""
    with memory_files(material.cert_pem, material.key_pem) as (cert_file, key_file):
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file, material.key_password)
        except ssl.SSLError as exc:
            algorithm = certificate.signature_algorithm_oid._name
            hint = "; an ML-DSA intermediate needs OpenSSL 3.5 or newer" if algorithm.startswith("ML-DSA") else ""
            raise BadRequest(f"{ssl.OPENSSL_VERSION} cannot serve TLS with the server certificate the intermediate "
                             f"signs ({algorithm}): {exc.reason or exc}{hint}") from None


@contextlib.contextmanager
def memory_files(*contents: bytes) -> Iterator[tuple[Path, ...]]:
    """Paths that read ``contents`` (for APIs that only take a file name, such as
    ``SSLContext.load_cert_chain``) from anonymous memory: nothing reaches a file
    system, so nothing is left behind even by a killed process."""
    descriptors = [os.memfd_create("appliance-tls", os.MFD_CLOEXEC) for _ in contents]
    try:
        for fd, data in zip(descriptors, contents):
            os.write(fd, data)
        yield tuple(Path(f"/proc/self/fd/{fd}") for fd in descriptors)
    finally:
        for fd in descriptors:
            os.close(fd)


def renew_at(certificate: x509.Certificate, now: datetime.datetime) -> datetime.datetime:
    """2/3 of the lifetime counted from issuance (``now``), not from the backdated
    not-before: a short-lived certificate must not look due the moment it is made."""
    start, end = max(certificate.not_valid_before_utc, now), certificate.not_valid_after_utc
    return start + (end - start) * RENEW_AT
