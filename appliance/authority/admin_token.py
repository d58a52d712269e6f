"""Admin tokens (step-ca's remote management): a JWS whose ``x5c`` header carries a
certificate this CA issued, signed by that certificate's key, for one admin API request."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509

from appliance.authority.leaf import IssuanceFailed, LeafSigner
from appliance.authority.renew_token import x5c_leaf
from appliance.errors import Unauthorized
from appliance.jose import UnverifiedToken
from appliance.provisioner import Audiences, TokenUse
from appliance.provisioner.token import check_times, string_claim

#: The ``iss`` of tokens made by step's admin client (older ones name the provisioner).
ADMIN_CLIENT_ISSUER = "step-admin-client/1.0"


@dataclass(frozen=True)
class AdminCredential:
    """A verified admin token: its certificate, the provisioner that authorised that
    certificate, and the names (common name, DNS names, emails) an admin may have."""

    certificate: x509.Certificate
    provisioner: str
    names: tuple[str, ...]


def certificate_names(certificate: x509.Certificate) -> tuple[str, ...]:
    """The common name, then the DNS names and emails of a certificate (step-ca's admin SANs)."""
    names = [str(a.value) for a in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)][:1]
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return tuple(names)
    return tuple(names + sans.get_values_for_type(x509.DNSName) + sans.get_values_for_type(x509.RFC822Name))


def check_admin_certificate(leaf: x509.Certificate, leaf_signer: LeafSigner) -> None:
    """Issued by this CA's intermediate, for digital signatures and client authentication."""
    try:
        leaf_signer.verify(leaf)
    except IssuanceFailed:
        raise Unauthorized("admin token certificate was not issued by this CA") from None
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        purposes = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise Unauthorized("admin token certificate has no key usage or extended key usage") from None
    if not usage.digital_signature or x509.ExtendedKeyUsageOID.CLIENT_AUTH not in purposes:
        raise Unauthorized("admin token certificate is not for digital signatures and client authentication")


def verify_admin_token(token: UnverifiedToken, endpoint: str, leaf_signer: LeafSigner, audiences: Audiences,
                       now: datetime.datetime) -> tuple[x509.Certificate, dict[str, object], TokenUse]:
    """The certificate and claims of an admin token valid for ``endpoint`` (the request's
    path without its leading ``/``, as step-ca's audience is the request URL), and its
    one-time id. The issuer is checked by the caller, who knows the provisioner."""
    leaf = x5c_leaf(token)
    check_admin_certificate(leaf, leaf_signer)
    claims = token.verify(leaf.public_key())
    times = check_times(claims, now)
    if not audiences.matches(claims.get("aud"), endpoint):
        raise Unauthorized("admin token audience (aud) is not this request's URL")
    if not string_claim(claims, "sub"):
        raise Unauthorized("admin token subject (sub) is empty")
    return leaf, claims, TokenUse(token_id=string_claim(claims, "jti"), expires_at=times.expires_at)
