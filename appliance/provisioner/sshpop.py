"""The SSHPOP provisioner: one-time tokens signed by the key of an SSH certificate this CA
issued, carried in the token's ``sshpop`` header (standard base64 of its wire form). It
renews, rekeys and revokes SSH host certificates (as step-ca's ``SSHPOP``); that the
certificate is this CA's own, unrevoked, is the SSH authority's check."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import InvalidToken, UnverifiedToken
from appliance.provisioner.base import Provisioner, RevokeAuthorization, SignOptions, SshPopAuthorization, TokenUse
from appliance.provisioner.token import check_times, string_claim
from appliance.provisioner.types import PROVISIONER_TYPES
from appliance.sshcert import parse_certificate


def sshpop_certificate(header: dict[str, Any]) -> SSHCertificate:
    """The certificate of an ``sshpop`` header."""
    value = header.get("sshpop")
    if not isinstance(value, str) or not value:
        raise Unauthorized("the token has no sshpop header")
    try:
        base64.b64decode(value, validate=True)
        return parse_certificate(value, "sshpop certificate")
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise Unauthorized("the sshpop header is not an SSH certificate") from None
    except BadRequest as exc:
        raise Unauthorized(exc.message) from None


class SSHPOPProvisioner(Provisioner):
    """step-ca's ``SSHPOP`` type: ``{type, name, claims?}``."""

    kind = PROVISIONER_TYPES["SSHPOP"]

    @property
    def credential_id(self) -> str:
        return f"sshpop/{self.name}"

    @property
    def token_id(self) -> str:
        return f"sshpop/{self.name}"

    def _authorize(self, token: UnverifiedToken, endpoint: str) -> tuple[SSHCertificate, dict[str, Any], TokenUse]:
        """The certificate's validity, the token's signature by its key, issuer, audience, times."""
        certificate = sshpop_certificate(token.header)
        now = self.context.now()
        if certificate.valid_after and certificate.valid_after > now.timestamp():
            raise Unauthorized("sshpop certificate validAfter is in the future")
        if certificate.valid_before and certificate.valid_before < now.timestamp():
            raise Unauthorized("sshpop certificate validBefore is in the past")
        try:
            claims = token.verify(certificate.public_key())
        except InvalidToken:
            raise Unauthorized("token signature does not verify with the sshpop certificate's key") from None
        if claims.get("iss") != self.name:
            raise Unauthorized("token issuer (iss) does not name this provisioner")
        if not self.context.audiences.matches(claims.get("aud"), endpoint):
            raise Unauthorized(f"token audience (aud) is not this CA's /{endpoint} endpoint")
        times = check_times(claims, now)
        string_claim(claims, "sub")
        return certificate, claims, TokenUse(token_id=string_claim(claims, "jti"), expires_at=times.expires_at)

    def _host(self, token: UnverifiedToken, endpoint: str) -> SshPopAuthorization:
        self.check_ssh_enabled()
        certificate, _, use = self._authorize(token, endpoint)
        if certificate.type != SSHCertificateType.HOST:
            raise BadRequest("sshpop certificate must be a host ssh certificate")
        return SshPopAuthorization(self, certificate, use)

    def authorize_ssh_renew(self, token: UnverifiedToken) -> SshPopAuthorization:
        return self._host(token, "ssh/renew")

    def authorize_ssh_rekey(self, token: UnverifiedToken) -> SshPopAuthorization:
        return self._host(token, "ssh/rekey")

    def authorize_ssh_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        certificate, claims, use = self._authorize(token, "ssh/revoke")
        if claims["sub"] != str(certificate.serial):
            raise Unauthorized("token subject must be the sshpop certificate's serial")
        return RevokeAuthorization(provisioner=self, serial=str(certificate.serial), token=use,
                                   ssh_certificate=certificate)

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        raise Unauthorized(f"provisioner '{self.name}' (SSHPOP) does not sign X.509 certificates")

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        raise Unauthorized(f"provisioner '{self.name}' (SSHPOP) does not revoke X.509 certificates")

