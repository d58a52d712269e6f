"""Provisioners: one module per type; each turns a credential into sign options."""

from __future__ import annotations

from appliance.provisioner.audience import Audiences
from appliance.provisioner.base import (
    ProvisionerContext,
    Provisioner,
    RevokeAuthorization,
    SignOptions,
    TokenUse,
)
from appliance.provisioner.claims import Claimer, ClaimsError
from appliance.provisioner.collection import Collection
from appliance.provisioner.extension import PROVISIONER_OID, ProvisionerExtension
from appliance.provisioner.jwk import JWKProvisioner
from appliance.provisioner.names import Names

__all__ = [
    "PROVISIONER_OID",
    "Audiences",
    "Claimer",
    "ClaimsError",
    "Collection",
    "JWKProvisioner",
    "Names",
    "Provisioner",
    "ProvisionerContext",
    "ProvisionerExtension",
    "RevokeAuthorization",
    "SignOptions",
    "TokenUse",
]
