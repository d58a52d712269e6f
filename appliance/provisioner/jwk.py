"""The JWK provisioner: one-time tokens signed by a key listed in ca.json."""

from __future__ import annotations

import hmac
from typing import Any

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import (
    SIGNATURE_ALGORITHMS,
    InvalidKey,
    InvalidToken,
    UnverifiedToken,
    key_from_dict,
    thumbprint,
    verification_key,
)
from appliance.provisioner.base import (
    AudienceProvisioner,
    ProvisionerContext,
    RevokeAuthorization,
    SignOptions,
    TokenUse,
)
from appliance.provisioner.checks import requested_sans
from appliance.provisioner.ssh_defaults import ssh_sign_options
from appliance.provisioner.base import SshSignOptions
from appliance.provisioner.token import check_times, string_claim
from appliance.provisioner.types import PROVISIONER_TYPES


class JWKProvisioner(AudienceProvisioner):
    """step-ca's ``JWK`` type: ``{type, name, key, encryptedKey?, claims?}``."""

    kind = PROVISIONER_TYPES["JWK"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        try:
            self.key = key_from_dict(config.get("key"))  # type: ignore[arg-type]
        except InvalidKey as exc:
            raise BadRequest(f"provisioner '{self.name}': {exc.message}") from None
        if self.key.has_private:
            raise BadRequest(f"provisioner '{self.name}': ca.json must hold the public key only")
        alg = self.key.get("alg")
        if alg is not None and alg not in SIGNATURE_ALGORITHMS:
            raise BadRequest(f"provisioner '{self.name}': unsupported key algorithm '{alg}'")
        try:
            self._verify_key = verification_key(self.key)
        except InvalidToken:
            raise BadRequest(f"provisioner '{self.name}': the key cannot verify signatures") from None
        self._kid = str(self.key.get("kid") or thumbprint(self.key))
        encrypted = config.get("encryptedKey")
        if encrypted is not None and not isinstance(encrypted, str):
            raise BadRequest(f"provisioner '{self.name}': encryptedKey must be a compact JWE string")
        self._encrypted_key = encrypted or None

    @property
    def credential_id(self) -> str:
        return self._kid

    def encrypted_key(self) -> str | None:
        return self._encrypted_key

    def _authorize(self, token: UnverifiedToken, endpoint: str) -> tuple[dict[str, Any], TokenUse]:
        """Signature, issuer, audience, times, root fingerprint, subject and id."""
        claims = token.verify(self._verify_key)
        if claims.get("iss") != self.name:
            raise Unauthorized("token issuer (iss) does not name this provisioner")
        if not self.context.audiences.matches(claims.get("aud"), endpoint):
            raise Unauthorized(f"token audience (aud) is not this CA's /{endpoint} endpoint")
        now = self.context.now()
        times = check_times(claims, now)
        if (times.issued_at is not None and times.issued_at < self.context.started_at
                and not self.claimer.disable_issued_at_check):
            raise Unauthorized("token was issued before the CA started (iat)")
        sha = claims.get("sha")
        if not isinstance(sha, str) or not hmac.compare_digest(sha.lower().encode(),
                                                               self.context.root_fingerprint.encode()):
            raise Unauthorized("token root fingerprint (sha) does not match this CA's root")
        string_claim(claims, "sub")
        return claims, TokenUse(token_id=string_claim(claims, "jti"), expires_at=times.expires_at)

    def sign_options(self, token: UnverifiedToken, endpoint: str) -> SignOptions:
        claims, use = self._authorize(token, endpoint)
        names = requested_sans(claims, [claims["sub"]])
        return SignOptions(provisioner=self, subject=claims["sub"], names=names, token=use, claims=claims)

    def authorize_ssh_sign(self, token: UnverifiedToken) -> SshSignOptions:
        self.check_ssh_enabled()
        claims, use = self._authorize(token, "ssh/sign")
        return ssh_sign_options(self, claims, use)

    def authorize_ssh_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        claims, use = self._authorize(token, "ssh/revoke")
        return RevokeAuthorization(provisioner=self, serial=claims["sub"], token=use)

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        claims, use = self._authorize(token, "revoke")
        return RevokeAuthorization(provisioner=self, serial=claims["sub"], token=use)
