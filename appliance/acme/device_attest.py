"""device-attest-01 (draft-acme-device-attest): the client answers the challenge with
``{"attObj": ...}`` and the attestation is verified in that request (it is CPU work, no
network): valid, the challenge and its authorization become valid and the authorization
keeps what was proved (format, attested key fingerprint, hardware facts, the attObj), as
step-ca 0.28 stores it; refused, both become invalid with ``badAttestationStatement``.
A malformed answer is a ``malformed`` problem and changes nothing."""

from __future__ import annotations

import logging
from typing import Any

from appliance.acme import attestation
from appliance.acme.challenges import key_authorization
from appliance.acme.context import Core
from appliance.acme.models import Account, Authorization, Challenge, Identifier, Status
from appliance.acme.problems import AcmeError, Problem, Subproblem
from appliance.jose.b64 import b64encode
from appliance.provisioner.acme import ACMEProvisioner

log = logging.getLogger(__name__)

PENDING = frozenset({Status.PENDING})


def _matching(proof: attestation.Attestation, identifier: Identifier) -> None:
    """The order's permanent identifier must be one the attestation names."""
    if identifier.value not in proof.identifiers:
        named = ", ".join(repr(i) for i in proof.identifiers) or "none"
        raise AcmeError(Problem.BAD_ATTESTATION_STATEMENT, "permanent identifier does not match", subproblems=(
            Subproblem(Problem.REJECTED_IDENTIFIER,
                       f"challenge identifier {identifier.value!r} is not the attested hardware identifier ({named})",
                       identifier.to_json()),))


def record(proof: attestation.Attestation, attestation_object: attestation.AttestationObject,
           identifier: Identifier) -> dict[str, Any]:
    """What the authorization keeps (JSON): it reaches finalize, templates and webhooks."""
    return {"format": proof.format, "permanentIdentifier": identifier.value, "fingerprint": proof.fingerprint,
            **proof.facts, "attObj": b64encode(attestation_object.raw)}


def respond(core: Core, provisioner: ACMEProvisioner, account: Account, authz: Authorization,
            challenge: Challenge, payload: dict[str, Any]) -> None:
    """Validate the answer to a pending device-attest-01 challenge and record the outcome."""
    reported = payload.get("error")
    if reported is not None and "attObj" not in payload:
        error = AcmeError(Problem.REJECTED_IDENTIFIER, f"the client reported an error: {str(reported)[:200]}")
        _invalid(core, authz, challenge, error)
        return
    attestation_object = attestation.decode(payload)
    now = core.now()
    bound_to = attestation.Challenge(challenge.token, key_authorization(challenge.token, account.thumbprint), now)
    try:
        proof = attestation.verify(attestation_object, provisioner.attestation_formats,
                                   provisioner.attestation_roots, bound_to)
        _matching(proof, authz.identifier)
    except AcmeError as exc:
        _invalid(core, authz, challenge, exc)
        return
    if core.store.record_attestation(authz.id, challenge.id, record(proof, attestation_object, authz.identifier), now):
        log.info("challenge %s: %s attestation of %s verified", challenge.id, proof.format, authz.identifier.value)


def _invalid(core: Core, authz: Authorization, challenge: Challenge, error: AcmeError) -> None:
    log.info("challenge %s: attestation refused: %s", challenge.id, error.message)
    if core.store.set_challenge_status(challenge.id, Status.INVALID, PENDING, error=error.to_json()):
        core.store.set_authorization_status(authz.id, Status.INVALID, PENDING)
