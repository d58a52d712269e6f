"""``certificate verify``: path validation to a set of roots (RFC 5280 with
cryptography's Web PKI profile).

With ``--host`` the leaf is checked as a TLS server certificate for that name.
Without it, as step does (Go's default usage), a leaf that declares serverAuth
is checked as a server certificate for its own first name (so the name is not
what is being tested), and any other leaf as a client certificate."""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from appliance.errors import BadRequest


class CertificateInvalid(BadRequest):
    """The certificate does not chain to the roots, or breaks the profile."""


def _subject(host: str) -> verification.Subject:
    try:
        return verification.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return verification.DNSName(host)


def _server_name(leaf: x509.Certificate) -> str | None:
    """The leaf's first DNS name or IP address when it declares serverAuth."""
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    if ExtendedKeyUsageOID.SERVER_AUTH not in usages:
        return None
    names = [*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress))]
    return names[0] if names else None


def verify_chain(chain: list[x509.Certificate], roots: list[x509.Certificate], *, host: str | None = None,
                 now: datetime.datetime | None = None) -> list[x509.Certificate]:
    """The verified path (leaf first, root last); ``CertificateInvalid`` otherwise.
    ``chain`` is the leaf followed by untrusted intermediates."""
    builder = verification.PolicyBuilder().store(verification.Store(roots))
    builder = builder.time(now or datetime.datetime.now(datetime.timezone.utc))
    leaf, intermediates = chain[0], chain[1:]
    host = host or _server_name(leaf)
    try:
        if host:
            return builder.build_server_verifier(_subject(host)).verify(leaf, intermediates)
        return builder.build_client_verifier().verify(leaf, intermediates).chain
    except verification.VerificationError as exc:
        raise CertificateInvalid(f"certificate verification failed: {exc}") from None
