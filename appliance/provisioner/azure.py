"""The Azure provisioner: managed-identity access tokens from Azure's IMDS
(step-ca's ``Azure`` type).

The client asks IMDS for ``/metadata/identity/oauth2/token?resource=<audience>``:
an RS256 v1 access token of Entra ID (``iss`` ``https://sts.windows.net/<tenant>/``)
whose ``xms_mirid`` names the virtual machine's subscription, resource group and name.

ca.json (step-ca's fields): ``tenantID`` (required), ``resourceGroups``,
``subscriptionIDs``, ``objectIDs``, ``audience`` (default
``https://management.azure.com/``), ``disableCustomSANs``,
``disableTrustOnFirstUse``, ``claims``, ``options``. Our addition: ``jwksURL``, where
the tenant's keys are fetched (default: from the tenant's OpenID discovery document
at login.microsoftonline.com).
"""

from __future__ import annotations

import threading
from typing import Any

from appliance.errors import Unauthorized, Unavailable
from appliance.jose import UnverifiedToken
from appliance.provisioner.base import Provisioner, ProvisionerContext, RevokeAuthorization, SignOptions, SshSignOptions, TokenUse
from appliance.provisioner.checks import (
    audience_includes,
    config_flag,
    config_string,
    config_strings,
    instance_use,
    require_member,
)
from appliance.provisioner.jwks import RemoteKeySet, fetch_json, verify_with
from appliance.provisioner.names import Names
from appliance.provisioner.ssh_defaults import instance_ssh_options
from appliance.provisioner.token import check_times
from appliance.provisioner.types import PROVISIONER_TYPES

DEFAULT_AUDIENCE = "https://management.azure.com/"
DISCOVERY = "https://login.microsoftonline.com/{tenant}/.well-known/openid-configuration"


def virtual_machine(mirid: Any) -> tuple[str, str, str]:
    """Subscription, resource group and VM name of an ``xms_mirid``
    (``/subscriptions/S/resourcegroups/G/providers/Microsoft.Compute/virtualMachines/N``)."""
    parts = mirid.strip("/").split("/") if isinstance(mirid, str) else []
    if (len(parts) != 8 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups"
            or parts[4].lower() != "providers" or parts[5].lower() != "microsoft.compute"
            or parts[6].lower() != "virtualmachines" or not all(parts)):
        raise Unauthorized("Azure token xms_mirid does not name a virtual machine")
    return parts[1], parts[3], parts[7]


class AzureProvisioner(Provisioner):
    """step-ca's ``Azure`` type."""

    kind = PROVISIONER_TYPES["AZURE"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        where = f"provisioner '{self.name}'"
        self.tenant_id = config_string(config, "tenantID", where, required=True)
        self.resource_groups = config_strings(config, "resourceGroups", where)
        self.subscription_ids = config_strings(config, "subscriptionIDs", where)
        self.object_ids = config_strings(config, "objectIDs", where)
        self.audience = config_string(config, "audience", where) or DEFAULT_AUDIENCE
        self.disable_custom_sans = config_flag(config, "disableCustomSANs", where)
        self.trust_on_first_use = not config_flag(config, "disableTrustOnFirstUse", where)
        self.issuer = f"https://sts.windows.net/{self.tenant_id}/"
        self._jwks_url = config_string(config, "jwksURL", where)
        self._lock = threading.Lock()
        self._keys: RemoteKeySet | None = None

    @property
    def credential_id(self) -> str:
        return self.tenant_id

    @property
    def token_id(self) -> str:
        return self.tenant_id

    def _key_set(self) -> RemoteKeySet:
        with self._lock:
            if self._keys is None:
                url: Any = self._jwks_url
                if not url:
                    document = fetch_json(DISCOVERY.format(tenant=self.tenant_id))
                    url = document.get("jwks_uri") if isinstance(document, dict) else None
                    if not isinstance(url, str) or not url:
                        raise Unavailable(f"the discovery document of tenant {self.tenant_id} has no jwks_uri")
                self._keys = RemoteKeySet(str(url), self.context.now)
            return self._keys

    def _authorize(self, token: UnverifiedToken) -> tuple[dict[str, Any], str, TokenUse]:
        """The token's claims, the virtual machine's name and the replay mark."""
        claims = verify_with(self._key_set(), token)
        if claims.get("iss") != self.issuer:
            raise Unauthorized("Azure token issuer (iss) is not the tenant's")
        if not audience_includes(claims, self.audience):
            raise Unauthorized(f"Azure token audience (aud) is not {self.audience}")
        if claims.get("tid") != self.tenant_id:
            raise Unauthorized("Azure token tenant (tid) is not the provisioner's")
        times = check_times(claims, self.context.now(), max_lifetime=None)
        subscription, group, name = virtual_machine(claims.get("xms_mirid"))
        require_member(subscription, self.subscription_ids, "Azure subscription")
        if self.resource_groups and group.lower() not in {g.lower() for g in self.resource_groups}:
            raise Unauthorized("Azure resource group is not one the provisioner allows")
        require_member(claims.get("oid"), self.object_ids, "Azure managed identity (oid)")
        use = instance_use(self.token_id, str(claims["xms_mirid"]).lower(), token,
                           trust_on_first_use=self.trust_on_first_use, expires_at=times.expires_at)
        return claims, name, use

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        claims, name, use = self._authorize(token)
        if not self.disable_custom_sans:
            return SignOptions(provisioner=self, subject=name, names=Names(), token=use, any_name=True,
                               claims=claims)
        return SignOptions(provisioner=self, subject=name, names=Names.parse([name]), token=use,
                           claims=claims)

    def authorize_ssh_sign(self, token: UnverifiedToken) -> SshSignOptions:
        """A host certificate whose key id and principal are the virtual machine's name."""
        self.check_ssh_enabled()
        claims, name, use = self._authorize(token)
        return instance_ssh_options(self, claims, use, name, [name], custom_principals=not self.disable_custom_sans)

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        raise Unauthorized(f"provisioner '{self.name}' is an Azure provisioner: revoke with the certificate (mTLS)")
