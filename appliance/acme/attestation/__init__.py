"""device-attest-01 attestation objects (draft-acme-device-attest): the WebAuthn-shaped
CBOR ``{"fmt", "attStmt", "authData"}`` a client posts as ``attObj``, verified by format
(``step``: YubiKey PIV, ``apple``, ``tpm``) to the provisioner's attestation roots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import cbor2
from cryptography import x509

from appliance.acme.attestation import apple, step, tpm
from appliance.acme.attestation.chain import refused
from appliance.acme.attestation.roots import shipped_roots
from appliance.acme.attestation.statement import Attestation, Challenge
from appliance.acme.problems import AcmeError, Problem
from appliance.jose.b64 import b64decode

MAX_ATTESTATION_OBJECT = 64 * 1024

__all__ = ["Attestation", "AttestationObject", "Challenge", "decode", "verify"]


@dataclass(frozen=True)
class AttestationObject:
    """A decoded ``attObj``: its format and statement (not yet verified)."""

    format: str
    statement: dict[Any, Any]
    raw: bytes


def decode(payload: dict[str, Any]) -> AttestationObject:
    """The challenge response's ``attObj``: base64url CBOR of a map with a string ``fmt`` and
    a map ``attStmt``; ``malformed`` (nothing recorded) when it is not one."""
    value = payload.get("attObj")
    if not isinstance(value, str) or not value or len(value) > MAX_ATTESTATION_OBJECT * 4 // 3 + 4:
        raise AcmeError(Problem.MALFORMED, f"device-attest-01 needs attObj: base64url CBOR of at most "
                                           f"{MAX_ATTESTATION_OBJECT} bytes")
    try:
        raw = b64decode(value)
        decoded = cbor2.loads(raw)
    except (ValueError, cbor2.CBORDecodeError, RecursionError):
        raise AcmeError(Problem.MALFORMED, "attObj is not base64url-encoded CBOR") from None
    if (not isinstance(decoded, dict) or not isinstance(decoded.get("fmt"), str)
            or not isinstance(decoded.get("attStmt"), dict)):
        raise AcmeError(Problem.MALFORMED, "attObj must be a CBOR map with a string fmt and a map attStmt")
    return AttestationObject(decoded["fmt"], decoded["attStmt"], raw)


Verifier = Callable[[dict[Any, Any], Sequence[x509.Certificate], Challenge], Attestation]


VERIFIERS: dict[str, Verifier] = {"step": step.verify, "apple": apple.verify, "tpm": tpm.verify}


def verify(attestation: AttestationObject, formats: Sequence[str], roots: Sequence[x509.Certificate],
           challenge: Challenge) -> Attestation:
    """Verify the statement by its format, to ``roots`` (the format's shipped ones when empty);
    ``badAttestationStatement`` on any failure."""
    verifier = VERIFIERS.get(attestation.format)
    if verifier is None:
        raise refused(f"unsupported attestation format {attestation.format[:32]!r}")
    if attestation.format not in formats:
        raise refused(f"attestation format {attestation.format!r} is not enabled (attestationFormats)")
    return verifier(attestation.statement, roots or shipped_roots(attestation.format), challenge)
