"""step-ca's provisioner types: the one table the server and the client commands share.

The number is what step-ca writes into the provisioner extension of every
certificate (its ``provisioner.Type``). This appliance implements every one.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.errors import BadRequest


@dataclass(frozen=True)
class ProvisionerType:
    """One step-ca provisioner type."""

    name: str
    code: int


PROVISIONER_TYPES: dict[str, ProvisionerType] = {t.name: t for t in (
    ProvisionerType("JWK", 1),
    ProvisionerType("OIDC", 2),
    ProvisionerType("GCP", 3),
    ProvisionerType("AWS", 4),
    ProvisionerType("AZURE", 5),
    ProvisionerType("ACME", 6),
    ProvisionerType("X5C", 7),
    ProvisionerType("K8SSA", 8),
    ProvisionerType("SSHPOP", 9),
    ProvisionerType("SCEP", 10),
    ProvisionerType("NEBULA", 11),
    ProvisionerType("EST", 128),  # ours (RFC 7030): step-ca has no EST type; a code clear of step-ca's
)}
BUILT_TYPES = tuple(PROVISIONER_TYPES)
TYPE_NAMES_BY_CODE = {t.code: t.name for t in PROVISIONER_TYPES.values()}


def provisioner_type(name: object) -> ProvisionerType:
    """The type a ca.json ``type`` names (case-insensitive); ``BadRequest`` if step-ca has no such type."""
    found = PROVISIONER_TYPES.get(str(name).upper())
    if found is None:
        raise BadRequest(f"unknown type '{name}' (step-ca's provisioner types: {', '.join(PROVISIONER_TYPES)})")
    return found
