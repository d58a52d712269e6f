"""The K8sSA provisioner: Kubernetes service-account tokens (step-ca's ``K8sSA`` type).

ca.json (step-ca's fields): ``publicKeys``, the PEM of the cluster's service-account
signing keys (base64-encoded as step-ca writes it, or plain PEM), ``claims``, ``options``.

Two token formats verify: the legacy secret-based token (``iss``
``kubernetes/serviceaccount``, no expiry), the only one step-ca accepts, and the
bound (projected) token, whose ``iss`` is the cluster's and whose ``aud`` must name
this CA's ``/sign`` endpoint and which expires. The certificate's common name is the
service account's name and its SANs are the request's (step-ca's default template);
name policies are what limit them. Each token gets one certificate (its hash is
marked used); the certificate is then renewed by mTLS.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import InvalidToken, PublicKey, UnverifiedToken, verification_key
from appliance.provisioner.base import AudienceProvisioner, ProvisionerContext, RevokeAuthorization, SignOptions, SshSignOptions, TokenUse
from appliance.provisioner.checks import LASTING_MARK, replay_key
from appliance.provisioner.names import Names
from appliance.provisioner.ssh import REQUEST_FIELDS, REQUEST_TEMPLATE, SshRequestOptions
from appliance.provisioner.token import check_times, string_claim
from appliance.provisioner.types import PROVISIONER_TYPES

LEGACY_ISSUER = "kubernetes/serviceaccount"
_PEM_END = b"-----END PUBLIC KEY-----"


def is_service_account_token(claims: dict[str, Any]) -> bool:
    """A Kubernetes service-account token, legacy or bound."""
    return claims.get("iss") == LEGACY_ISSUER or isinstance(claims.get("kubernetes.io"), dict)


def load_public_keys(value: Any, where: str) -> list[PublicKey]:
    """The keys of a ca.json ``publicKeys`` value (base64 of PEM, or PEM)."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{where}: 'publicKeys' must hold the PEM of the service-account signing keys")
    try:
        pem = value.encode() if value.lstrip().startswith("-----BEGIN") else base64.b64decode(value, validate=True)
        blocks = [block + _PEM_END for block in pem.split(_PEM_END) if block.strip()]
        keys = [verification_key(load_pem_public_key(block)) for block in blocks]
    except (ValueError, binascii.Error, InvalidToken):
        raise BadRequest(f"{where}: 'publicKeys' is not a PEM bundle of RSA, EC or Ed25519 public keys") from None
    if not keys:
        raise BadRequest(f"{where}: 'publicKeys' holds no key")
    return keys


def _service_account(claims: dict[str, Any]) -> tuple[str, str]:
    """Namespace and service-account name, from either token format."""
    bound = claims.get("kubernetes.io")
    if isinstance(bound, dict):
        account = bound.get("serviceaccount")
        namespace, name = bound.get("namespace"), account.get("name") if isinstance(account, dict) else None
    else:
        namespace = claims.get("kubernetes.io/serviceaccount/namespace")
        name = claims.get("kubernetes.io/serviceaccount/service-account.name")
    if not isinstance(namespace, str) or not namespace or not isinstance(name, str) or not name:
        raise Unauthorized("service-account token names no namespace and service account")
    if claims.get("sub") != f"system:serviceaccount:{namespace}:{name}":
        raise Unauthorized("service-account token subject (sub) does not name its service account")
    return namespace, name


class K8sSAProvisioner(AudienceProvisioner):
    """step-ca's ``K8sSA`` type."""

    kind = PROVISIONER_TYPES["K8SSA"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        self.public_keys = load_public_keys(config.get("publicKeys"), f"provisioner '{self.name}'")

    @property
    def credential_id(self) -> str:
        """Empty, as step-ca writes it in the provisioner extension of K8sSA certificates."""
        return ""

    @property
    def token_id(self) -> str:
        return f"k8ssa/{self.name}"

    def _authorize(self, token: UnverifiedToken, endpoint: str) -> tuple[dict[str, Any], str, TokenUse]:
        claims: dict[str, Any] | None = None
        for key in self.public_keys:
            try:
                claims = token.verify(key)
                break
            except InvalidToken:
                continue
        if claims is None:
            raise Unauthorized("service-account token is not signed by a key of the cluster")
        string_claim(claims, "sub")
        now = self.context.now()
        if claims.get("iss") == LEGACY_ISSUER:
            expires = now + LASTING_MARK  # legacy tokens never expire
        else:
            if not isinstance(claims.get("kubernetes.io"), dict):
                raise Unauthorized(f"service-account token issuer (iss) must be '{LEGACY_ISSUER}' or bound")
            if not self.context.audiences.matches(claims.get("aud"), endpoint):
                raise Unauthorized(f"bound service-account token audience (aud) is not this CA's /{endpoint} endpoint")
            expires = check_times(claims, now, max_lifetime=None).expires_at
        _, name = _service_account(claims)
        return claims, name, TokenUse(token_id=replay_key(token, claim=None), expires_at=expires)

    def sign_options(self, token: UnverifiedToken, endpoint: str) -> SignOptions:
        claims, name, use = self._authorize(token, endpoint)
        return SignOptions(provisioner=self, subject=name, names=Names(), token=use, any_name=True, claims=claims)

    def authorize_ssh_sign(self, token: UnverifiedToken) -> SshSignOptions:
        """As step-ca: the certificate the request describes (its type, key id and principals,
        all required); a custom template sees a host certificate for the service account."""
        self.check_ssh_enabled()
        claims, name, use = self._authorize(token, "ssh/sign")
        return SshSignOptions(provisioner=self, cert_type="host", key_id=name, principals=(name,), token=use,
                              pinned=SshRequestOptions(), claims=claims, required=frozenset(REQUEST_FIELDS),
                              default_template=REQUEST_TEMPLATE)

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        raise Unauthorized(f"provisioner '{self.name}' is a K8sSA provisioner: revoke with the certificate (mTLS)")
