"""The GCP provisioner: Google-signed instance identity tokens (step-ca's ``GCP`` type).

The client asks the metadata server for
``instance/service-accounts/default/identity?audience=<CA>/1.0/sign#gcp/<name>&format=full``:
an RS256 JWT from ``https://accounts.google.com`` whose ``google.compute_engine``
claim names the project, zone and instance.

ca.json (step-ca's fields): ``serviceAccounts``, ``projectIDs``,
``disableCustomSANs``, ``disableTrustOnFirstUse``, ``instanceAge``, ``claims``,
``options``. ``organizationID`` needs Google's Resource Manager API and is refused
at start. Our addition: ``jwksURL``, where Google's keys are fetched (default
Google's own, ``https://www.googleapis.com/oauth2/v3/certs``).
"""

from __future__ import annotations

import datetime
from typing import Any

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.pki.duration import parse_duration
from appliance.provisioner.base import Provisioner, ProvisionerContext, RevokeAuthorization, SignOptions, SshSignOptions, TokenUse
from appliance.provisioner.checks import config_flag, config_string, config_strings, instance_use, require_member
from appliance.provisioner.jwks import RemoteKeySet, verify_with
from appliance.provisioner.names import Names
from appliance.provisioner.ssh_defaults import instance_ssh_options
from appliance.provisioner.token import check_times, string_claim
from appliance.provisioner.types import PROVISIONER_TYPES

GOOGLE_CERTS = "https://www.googleapis.com/oauth2/v3/certs"
ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_REQUIRED = ("instance_id", "instance_name", "project_id", "zone")


def _created(instance: dict[str, Any]) -> datetime.datetime:
    """When the instance was created (``instance_creation_timestamp``)."""
    created = instance.get("instance_creation_timestamp")
    try:
        if isinstance(created, bool) or not isinstance(created, int):
            raise ValueError(created)
        return datetime.datetime.fromtimestamp(created, datetime.timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise Unauthorized("GCP token has no valid instance_creation_timestamp") from None


def _internal_names(instance: dict[str, Any]) -> list[str]:
    """The instance's internal DNS names (global and zonal)."""
    name, project, zone = instance["instance_name"], instance["project_id"], instance["zone"]
    return [f"{name}.c.{project}.internal", f"{name}.{zone}.c.{project}.internal"]


class GCPProvisioner(Provisioner):
    """step-ca's ``GCP`` type."""

    kind = PROVISIONER_TYPES["GCP"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        where = f"provisioner '{self.name}'"
        if config.get("organizationID"):
            raise BadRequest(f"{where}: 'organizationID' is not supported (it needs Google's Resource Manager API)")
        self.service_accounts = config_strings(config, "serviceAccounts", where)
        self.project_ids = config_strings(config, "projectIDs", where)
        self.disable_custom_sans = config_flag(config, "disableCustomSANs", where)
        self.trust_on_first_use = not config_flag(config, "disableTrustOnFirstUse", where)
        age = config_string(config, "instanceAge", where)
        self.instance_age = parse_duration(age) if age else None
        self.keys = RemoteKeySet(config_string(config, "jwksURL", where) or GOOGLE_CERTS, context.now)

    @property
    def credential_id(self) -> str:
        return ""

    @property
    def token_id(self) -> str:
        return f"gcp/{self.name}"

    def _authorize(self, token: UnverifiedToken) -> tuple[dict[str, Any], dict[str, Any], TokenUse]:
        """The token's claims, its ``compute_engine`` claim and replay mark."""
        claims = verify_with(self.keys, token)
        if claims.get("iss") not in ISSUERS:
            raise Unauthorized("GCP token issuer (iss) is not Google")
        if not self.context.audiences.matches(claims.get("aud"), "sign"):
            raise Unauthorized("GCP token audience (aud) is not this CA's /sign endpoint")
        now = self.context.now()
        times = check_times(claims, now, max_lifetime=None)
        string_claim(claims, "sub")
        if self.service_accounts and not {claims.get("sub"), claims.get("email")} & set(self.service_accounts):
            raise Unauthorized("GCP service account is not one the provisioner allows")
        google = claims.get("google")
        instance = google.get("compute_engine") if isinstance(google, dict) else None
        if not isinstance(instance, dict):
            raise Unauthorized("GCP token has no compute_engine claim: ask for it with format=full")
        for name in _REQUIRED:
            if not isinstance(instance.get(name), str) or not instance[name]:
                raise Unauthorized(f"GCP token compute_engine claim has no {name}")
        require_member(instance["project_id"], self.project_ids, "GCP project id")
        if self.instance_age is not None and now - _created(instance) > self.instance_age:
            raise Unauthorized("GCP instance is older than the provisioner's instanceAge")
        use = instance_use(self.token_id, instance["instance_id"], token,
                           trust_on_first_use=self.trust_on_first_use, expires_at=times.expires_at)
        return claims, instance, use

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        claims, instance, use = self._authorize(token)
        name = instance["instance_name"]
        if not self.disable_custom_sans:
            return SignOptions(provisioner=self, subject=name, names=Names(), token=use, any_name=True,
                               claims=claims)
        return SignOptions(provisioner=self, subject=name, names=Names.parse(_internal_names(instance)), token=use,
                           claims=claims)

    def authorize_ssh_sign(self, token: UnverifiedToken) -> SshSignOptions:
        """A host certificate for the instance id, principals its internal DNS names."""
        self.check_ssh_enabled()
        claims, instance, use = self._authorize(token)
        return instance_ssh_options(self, claims, use, instance["instance_id"], _internal_names(instance),
                                    custom_principals=not self.disable_custom_sans)

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        raise Unauthorized(f"provisioner '{self.name}' is a GCP provisioner: revoke with the certificate (mTLS)")
