"""The provisioners of a CA: built once from ca.json, found by token or certificate."""

from __future__ import annotations

import logging
from typing import Any, Iterator

from cryptography import x509

from appliance.errors import BadRequest, NotFound, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.provisioner.base import Provisioner, ProvisionerContext
from appliance.provisioner.extension import ProvisionerExtension
from appliance.provisioner.acme import ACMEProvisioner
from appliance.provisioner.aws import AWSProvisioner
from appliance.provisioner.est import ESTProvisioner
from appliance.provisioner.azure import AzureProvisioner
from appliance.provisioner.gcp import GCPProvisioner
from appliance.provisioner.jwk import JWKProvisioner
from appliance.provisioner.k8ssa import K8sSAProvisioner, is_service_account_token
from appliance.provisioner.nebula import NebulaProvisioner
from appliance.provisioner.oidc import OIDCProvisioner
from appliance.provisioner.scep import SCEPProvisioner
from appliance.provisioner.sshpop import SSHPOPProvisioner
from appliance.provisioner.x5c import X5CProvisioner
from appliance.provisioner.types import provisioner_type

log = logging.getLogger(__name__)

#: The implementation of each built type (``types.BUILT_TYPES``).
IMPLEMENTATIONS: dict[str, type[Provisioner]] = {
    "JWK": JWKProvisioner,
    "ACME": ACMEProvisioner,
    "X5C": X5CProvisioner,
    "OIDC": OIDCProvisioner,
    "K8SSA": K8sSAProvisioner,
    "AWS": AWSProvisioner,
    "GCP": GCPProvisioner,
    "AZURE": AzureProvisioner,
    "NEBULA": NebulaProvisioner,
    "SSHPOP": SSHPOPProvisioner,
    "SCEP": SCEPProvisioner,
    "EST": ESTProvisioner,
}
MAX_LIMIT = 100


class Collection:
    """Provisioners by id (``name:credentialID``) in configuration order."""

    def __init__(self, provisioners: list[Provisioner]) -> None:
        self._by_id: dict[str, Provisioner] = {}
        for p in provisioners:
            if p.id in self._by_id:
                raise BadRequest(f"two provisioners share the id '{p.id}'")
            self._by_id[p.id] = p
        self._by_kid = {p.credential_id: p for p in provisioners}
        self._by_token_id: dict[str, Provisioner] = {}
        for p in provisioners:
            self._by_token_id.setdefault(p.token_id, p)
        self._order = list(self._by_id)

    @classmethod
    def from_config(cls, configs: tuple[dict[str, Any], ...] | list[dict[str, Any]],
                    context: ProvisionerContext) -> Collection:
        provisioners: list[Provisioner] = []
        for config in configs:
            try:
                kind = provisioner_type(config.get("type", ""))
            except BadRequest as exc:
                raise BadRequest(f"provisioner '{config.get('name')}': {exc.message}") from None
            provisioners.append(IMPLEMENTATIONS[kind.name](config, context))
        return cls(provisioners)

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[Provisioner]:
        return (self._by_id[i] for i in self._order)

    def for_token(self, token: UnverifiedToken) -> Provisioner:
        """The provisioner a token names, found as step-ca's ``LoadByToken`` does: an
        audience ``#fragment`` (X5C, AWS, GCP), ``iss`` with the ``kid`` header (JWK),
        ``iss`` alone when one provisioner has that name, then the token ids of the
        identity types: a Kubernetes service-account token (K8sSA), ``azp``, ``tid`` or the
        first audience (OIDC client id, Azure tenant). The provisioner then verifies everything."""
        claims = token.claims
        issuer, kid = claims.get("iss"), token.header.get("kid")
        audience = claims.get("aud")
        listed = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        audiences = [a for a in listed if isinstance(a, str)]
        for value in audiences:
            found = self._by_token_id.get(value.partition("#")[2] or "\0")
            if found is not None:
                return found
        if isinstance(issuer, str):
            found = self._by_id.get(f"{issuer}:{kid}") if isinstance(kid, str) else None
            named = [p for p in self._by_id.values() if p.name == issuer]
            if found is None and len(named) == 1 and (kid is None or named[0].kind.name != "JWK"):
                found = named[0]
            if found is not None:
                return found
        if is_service_account_token(claims):
            found = next((p for p in self._by_id.values() if isinstance(p, K8sSAProvisioner)), None)
            if found is not None:
                return found
        for candidate in (claims.get("azp"), claims.get("tid"), *audiences[:1]):
            if isinstance(candidate, str) and candidate in self._by_token_id:
                return self._by_token_id[candidate]
        raise Unauthorized("token names no provisioner of this CA (iss/kid)")

    def for_certificate(self, certificate: x509.Certificate) -> Provisioner:
        """The provisioner recorded in a certificate's provisioner extension."""
        try:
            ext = ProvisionerExtension.from_certificate(certificate)
        except BadRequest:
            ext = None
        found = self._by_id.get(f"{ext.name}:{ext.credential_id}") if ext else None
        if found is None or found.kind.code != ext.type:  # type: ignore[union-attr]
            raise Unauthorized("the certificate was not authorised by a provisioner of this CA")
        return found

    def by_name(self, name: str) -> Provisioner:
        """The provisioner called ``name``; ``NotFound`` if none."""
        for provisioner in self._by_id.values():
            if provisioner.name == name:
                return provisioner
        raise NotFound(f"no provisioner named '{name}'")

    def encrypted_key(self, kid: str) -> str:
        p = self._by_kid.get(kid)
        key = p.encrypted_key() if p is not None else None
        if key is None:
            raise NotFound(f"no encrypted key for kid '{kid}'")
        return key

    def page(self, cursor: str = "", limit: int = 20) -> tuple[list[dict[str, Any]], str]:
        """step-ca's JSON for up to ``limit`` provisioners from ``cursor``; the next cursor."""
        if limit <= 0:
            limit = 20
        limit = min(limit, MAX_LIMIT)
        start = self._order.index(cursor) if cursor in self._by_id else (0 if not cursor else len(self._order))
        ids = self._order[start:start + limit]
        following = self._order[start + limit:start + limit + 1]
        return [self._by_id[i].to_json() for i in ids], (following[0] if following else "")
