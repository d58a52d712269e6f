"""step-ca's provisioner types: the one table the server and the client commands share.

The number is what step-ca writes into the provisioner extension of every
certificate (its ``provisioner.Type``); ``built`` says whether this appliance
implements the type yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.errors import BadRequest


@dataclass(frozen=True)
class ProvisionerType:
    """One step-ca provisioner type."""

    name: str
    code: int
    built: bool


PROVISIONER_TYPES: dict[str, ProvisionerType] = {t.name: t for t in (
    ProvisionerType("JWK", 1, built=True),
    ProvisionerType("OIDC", 2, built=True),
    ProvisionerType("GCP", 3, built=True),
    ProvisionerType("AWS", 4, built=True),
    ProvisionerType("AZURE", 5, built=True),
    ProvisionerType("ACME", 6, built=True),
    ProvisionerType("X5C", 7, built=True),
    ProvisionerType("K8SSA", 8, built=True),
    ProvisionerType("SSHPOP", 9, built=False),
    ProvisionerType("SCEP", 10, built=False),
    ProvisionerType("NEBULA", 11, built=True),
    ProvisionerType("EST", 128, built=True),  # ours (RFC 7030): no step-ca type; a code clear of step-ca's
)}
BUILT_TYPES = tuple(name for name, t in PROVISIONER_TYPES.items() if t.built)
TYPE_NAMES_BY_CODE = {t.code: t.name for t in PROVISIONER_TYPES.values()}


def provisioner_type(name: object) -> ProvisionerType:
    """The type a ca.json ``type`` names (case-insensitive); ``BadRequest`` if step-ca has no such type."""
    found = PROVISIONER_TYPES.get(str(name).upper())
    if found is None:
        raise BadRequest(f"unknown type '{name}' (step-ca's provisioner types: {', '.join(PROVISIONER_TYPES)})")
    return found
