"""The X5C provisioner: one-time tokens signed by the key of a certificate that
chains to the provisioner's roots, the chain carried in the ``x5c`` header.

ca.json (step-ca's fields): ``{"type": "X5C", "name", "roots", "claims", "options"}``
where ``roots`` is the PEM bundle, base64-encoded as step-ca writes it (a plain
PEM string is accepted too).
"""

from __future__ import annotations

import base64
import binascii
import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.provisioner.base import AudienceProvisioner, ProvisionerContext, RevokeAuthorization, SignOptions, SshSignOptions, TokenUse
from appliance.provisioner.checks import replay_key, requested_sans
from appliance.provisioner.ssh_defaults import ssh_sign_options
from appliance.provisioner.token import check_times, string_claim
from appliance.provisioner.types import PROVISIONER_TYPES

MAX_CHAIN = 10


def load_roots(value: Any, where: str) -> list[x509.Certificate]:
    """The certificates of a ca.json ``roots`` value (base64 of PEM, or PEM)."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{where}: 'roots' must hold the PEM bundle of the trusted roots")
    try:
        pem = value.encode() if value.lstrip().startswith("-----BEGIN") else base64.b64decode(value, validate=True)
        roots = x509.load_pem_x509_certificates(pem)
    except (ValueError, binascii.Error):
        raise BadRequest(f"{where}: 'roots' is not a (base64-encoded) PEM bundle of certificates") from None
    return roots


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        return False


def _current(certificate: x509.Certificate, now: datetime.datetime, what: str) -> None:
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Unauthorized(f"x5c {what} certificate '{certificate.subject.rfc4514_string()}' is not valid now")


def parse_x5c(header: dict[str, Any]) -> list[x509.Certificate]:
    """The certificates of an ``x5c`` header (standard base64 DER, leaf first)."""
    chain = header.get("x5c")
    if not isinstance(chain, list) or not chain or len(chain) > MAX_CHAIN or not all(isinstance(c, str) for c in chain):
        raise Unauthorized("token has no x5c certificate chain")
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in chain]
    except (ValueError, binascii.Error):
        raise Unauthorized("token x5c certificate is malformed") from None


def verify_chain(chain: list[x509.Certificate], roots: list[x509.Certificate], now: datetime.datetime) -> None:
    """The leaf leads, through CA certificates of the chain, to one of ``roots``;
    every certificate on the way is valid ``now``."""
    current, intermediates = chain[0], chain[1:]
    _current(current, now, "leaf")
    for _ in range(MAX_CHAIN):
        root = next((r for r in roots if _issued_by(current, r)), None)
        if root is not None:
            _current(root, now, "root")
            return
        parent = next((c for c in intermediates if _is_ca(c) and _issued_by(current, c)), None)
        if parent is None:
            raise Unauthorized("x5c certificate chain does not lead to a root of the provisioner")
        _current(parent, now, "intermediate")
        current = parent
    raise Unauthorized("x5c certificate chain is too long")


class X5CProvisioner(AudienceProvisioner):
    """step-ca's ``X5C`` type."""

    kind = PROVISIONER_TYPES["X5C"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        self.roots = load_roots(config.get("roots"), f"provisioner '{self.name}'")

    @property
    def credential_id(self) -> str:
        """Empty, as step-ca writes it in the provisioner extension of X5C certificates."""
        return ""

    @property
    def token_id(self) -> str:
        return f"x5c/{self.name}"

    def _authorize(self, token: UnverifiedToken, endpoint: str) -> tuple[dict[str, Any], x509.Certificate, TokenUse]:
        now = self.context.now()
        chain = parse_x5c(token.header)
        leaf = chain[0]
        verify_chain(chain, self.roots, now)
        try:
            usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        except (x509.ExtensionNotFound, ValueError):
            usage = None
        if usage is None or not usage.digital_signature:
            raise Unauthorized("certificate used to sign the x5c token cannot be used for digital signature")
        try:
            public_key = leaf.public_key()
        except (UnsupportedAlgorithm, ValueError):
            raise Unauthorized("x5c leaf certificate has an unsupported public key") from None
        claims = token.verify(public_key)
        if claims.get("iss") != self.name:
            raise Unauthorized("token issuer (iss) does not name this provisioner")
        if not self.context.audiences.matches(claims.get("aud"), endpoint):
            raise Unauthorized(f"token audience (aud) is not this CA's /{endpoint} endpoint")
        times = check_times(claims, now)
        string_claim(claims, "sub")
        return claims, leaf, TokenUse(token_id=replay_key(token), expires_at=times.expires_at)

    def sign_options(self, token: UnverifiedToken, endpoint: str) -> SignOptions:
        claims, leaf, use = self._authorize(token, endpoint)
        return SignOptions(provisioner=self, subject=claims["sub"], names=requested_sans(claims, [claims["sub"]]),
                           token=use, not_after_limit=leaf.not_valid_after_utc, claims=claims,
                           authorization_certificate=leaf)

    def authorize_ssh_sign(self, token: UnverifiedToken) -> SshSignOptions:
        """As JWK's (``step.ssh`` claims), and never beyond the x5c leaf's end."""
        self.check_ssh_enabled()
        claims, leaf, use = self._authorize(token, "ssh/sign")
        return ssh_sign_options(self, claims, use, not_after_limit=leaf.not_valid_after_utc,
                                authorization_certificate=leaf)

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        claims, _, use = self._authorize(token, "revoke")
        return RevokeAuthorization(provisioner=self, serial=claims["sub"], token=use)
