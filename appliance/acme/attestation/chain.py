"""An attestation statement's ``x5c``: DER certificates, leaf first, verified by OpenSSL
(pyOpenSSL's store) up to the trusted attestation roots at the validation time."""

from __future__ import annotations

import datetime
from typing import Any, Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from OpenSSL import crypto

from appliance.acme.problems import AcmeError, Problem

MAX_CHAIN = 8


def refused(detail: str) -> AcmeError:
    """The problem every failed attestation check raises."""
    return AcmeError(Problem.BAD_ATTESTATION_STATEMENT, detail)


def x5c_certificates(statement: dict[Any, Any]) -> list[x509.Certificate]:
    """``attStmt.x5c`` parsed: a non-empty list of DER certificates, the attested one first."""
    x5c = statement.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        raise refused("x5c is missing or empty")
    if len(x5c) > MAX_CHAIN or not all(isinstance(der, bytes) for der in x5c):
        raise refused(f"x5c must be a list of at most {MAX_CHAIN} DER certificates")
    try:
        return [x509.load_der_x509_certificate(der) for der in x5c]
    except ValueError as exc:
        raise refused(f"x5c is malformed: {exc}") from None


def verify_chain(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate],
                 now: datetime.datetime) -> None:
    """The leaf chains through the other certificates to one of ``roots``, every one valid at ``now``."""
    if not roots:
        raise refused("no attestation roots are configured for this format (attestationRoots)")
    store = crypto.X509Store()
    for root in roots:
        store.add_cert(crypto.X509.from_cryptography(root))
    store.set_time(now.astimezone(datetime.timezone.utc).replace(tzinfo=None))
    context = crypto.X509StoreContext(store, crypto.X509.from_cryptography(chain[0]),
                                      [crypto.X509.from_cryptography(c) for c in chain[1:]])
    try:
        context.verify_certificate()
    except crypto.X509StoreContextError as exc:
        raise refused(f"x5c is not valid: {exc}") from None


def attested_key(certificate: x509.Certificate) -> CertificatePublicKeyTypes:
    """The key the attestation certificate certifies."""
    try:
        return certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise refused(f"the attested key cannot be read: {exc}") from None
