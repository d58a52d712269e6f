"""The Nebula provisioner: tokens signed (XEdDSA) by a Nebula host's X25519 key,
its Nebula certificate in the ``nebula`` header (step-ca's ``Nebula`` type).

ca.json (step-ca's fields): ``roots`` (the PEM of the Nebula CA certificates,
base64-encoded as step-ca writes it, or plain PEM), ``claims``, ``options``.
The certificate's name and IPs bound the names: the token's ``sans`` (default:
the name and the IPs) must be among them, and so must the request's; certificates
never outlive the Nebula certificate.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from appliance.errors import Forbidden, Unauthorized
from appliance.jose import InvalidToken, UnverifiedToken
from appliance.provisioner.base import AudienceProvisioner, ProvisionerContext, RevokeAuthorization, SignOptions, SshSignOptions, TokenUse
from appliance.provisioner.checks import replay_key, requested_sans
from appliance.provisioner.names import Names
from appliance.provisioner.ssh import SshRequestOptions, has_ssh_claim, token_ssh_options
from appliance.provisioner.nebula_cert import MalformedCertificate, NebulaCertificate, load_ca_pool, verify
from appliance.provisioner.token import check_times, string_claim
from appliance.provisioner.types import PROVISIONER_TYPES


class NebulaProvisioner(AudienceProvisioner):
    """step-ca's ``Nebula`` type."""

    kind = PROVISIONER_TYPES["NEBULA"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        self.pool = load_ca_pool(config.get("roots"), f"provisioner '{self.name}'")

    @property
    def credential_id(self) -> str:
        """Empty, as step-ca writes it in the provisioner extension of Nebula certificates."""
        return ""

    @property
    def token_id(self) -> str:
        return f"nebula/{self.name}"

    def _authorize(self, token: UnverifiedToken, endpoint: str) -> tuple[dict[str, Any], NebulaCertificate, TokenUse]:
        header = token.header.get("nebula")
        if not isinstance(header, str):
            raise Unauthorized("token has no nebula certificate header")
        try:
            certificate = NebulaCertificate.from_bytes(base64.b64decode(header, validate=True))
        except (ValueError, binascii.Error, MalformedCertificate):
            raise Unauthorized("token nebula header is not a Nebula certificate") from None
        now = self.context.now()
        verify(certificate, self.pool, now)
        if certificate.is_ca:
            raise Unauthorized("token is signed by a Nebula CA, not a host")
        try:
            claims = token.verify_xeddsa(certificate.public_key)
        except InvalidToken:
            raise Unauthorized("token signature does not match the Nebula certificate's key") from None
        if claims.get("iss") != self.name:
            raise Unauthorized("token issuer (iss) does not name this provisioner")
        if not self.context.audiences.matches(claims.get("aud"), endpoint):
            raise Unauthorized(f"token audience (aud) is not this CA's /{endpoint} endpoint")
        times = check_times(claims, now)
        string_claim(claims, "sub")
        return claims, certificate, TokenUse(token_id=replay_key(token), expires_at=times.expires_at)

    def sign_options(self, token: UnverifiedToken, endpoint: str) -> SignOptions:
        claims, certificate, use = self._authorize(token, endpoint)
        allowed = Names.parse([certificate.name, *(str(ip.ip) for ip in certificate.ips)])
        names = requested_sans(claims, list(allowed.as_strings()))
        outside = names.outside(allowed)
        if outside:
            raise Unauthorized(f"token names {', '.join(outside)} are not in the Nebula certificate")
        return SignOptions(provisioner=self, subject=claims["sub"], names=names, token=use,
                           not_after_limit=certificate.not_after, claims=claims,
                           authorization_certificate=certificate)

    def authorize_ssh_sign(self, token: UnverifiedToken) -> SshSignOptions:
        """As step-ca: a host certificate keyed by the subject for the Nebula certificate's
        name and IPs; the token's ``step.ssh`` (if any) narrows them, and so may the request."""
        self.check_ssh_enabled()
        claims, certificate, use = self._authorize(token, "ssh/sign")
        allowed = (certificate.name, *(str(ip.ip) for ip in certificate.ips))
        pinned = token_ssh_options(claims) if has_ssh_claim(claims) else SshRequestOptions()
        if pinned.cert_type not in ("", "host"):
            raise Forbidden(f"ssh certificate type does not match - got {pinned.cert_type}, want host")
        outside = [p for p in pinned.principals if p not in allowed]
        if outside:
            raise Forbidden(f"principals {', '.join(outside)} are not in the Nebula certificate")
        principals = pinned.principals or allowed
        pinned = SshRequestOptions("host", pinned.key_id, principals, pinned.valid_after, pinned.valid_before)
        return SshSignOptions(provisioner=self, cert_type="host", key_id=pinned.key_id or claims["sub"],
                              principals=principals, token=use, pinned=pinned, claims=claims,
                              not_after_limit=certificate.not_after, authorization_certificate=certificate)

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        claims, _, use = self._authorize(token, "revoke")
        return RevokeAuthorization(provisioner=self, serial=claims["sub"], token=use)
