"""Renew tokens: a JWS whose ``x5c`` header carries a certificate we issued, signed
by that certificate's key (``step ca renew`` without mutual TLS)."""

from __future__ import annotations

import base64
import binascii
import datetime

from cryptography import x509

from appliance.authority.leaf import IssuanceFailed, LeafSigner
from appliance.errors import Unauthorized
from appliance.jose import UnverifiedToken
from appliance.provisioner import Audiences, TokenUse
from appliance.provisioner.token import check_times, string_claim


def x5c_leaf(token: UnverifiedToken) -> x509.Certificate:
    """The first certificate of a token's ``x5c`` header."""
    chain = token.header.get("x5c")
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise Unauthorized("token has no x5c certificate")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
    except (ValueError, binascii.Error):
        raise Unauthorized("token x5c certificate is malformed") from None


def verify_renew_token(token: UnverifiedToken, leaf_signer: LeafSigner, audiences: Audiences,
                       now: datetime.datetime) -> tuple[x509.Certificate, TokenUse]:
    """The certificate of a valid renew token and the token's one-time id."""
    leaf = x5c_leaf(token)
    try:
        leaf_signer.verify(leaf)
    except IssuanceFailed:
        raise Unauthorized("renew token certificate was not issued by this CA") from None
    claims = token.verify(leaf.public_key())
    if not audiences.matches(claims.get("aud"), "renew"):
        raise Unauthorized("renew token audience (aud) is not this CA's /renew endpoint")
    times = check_times(claims, now)
    common_names = [str(a.value) for a in leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    subject = claims.get("sub")
    if common_names and subject is not None and subject != common_names[0]:
        raise Unauthorized("renew token subject (sub) is not the certificate's common name")
    return leaf, TokenUse(token_id=string_claim(claims, "jti"), expires_at=times.expires_at)
