"""ACME problem types (RFC 8555 section 6.7) as domain errors.

The core raises :class:`AcmeError`; only ``appliance.api`` turns it into an
``application/problem+json`` response with an HTTP status.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from appliance.errors import ApplianceError, ErrorKind

PROBLEM_PREFIX = "urn:ietf:params:acme:error:"


class Problem(enum.Enum):
    """``urn:ietf:params:acme:error:<value>`` and the error kind it belongs to."""

    ACCOUNT_DOES_NOT_EXIST = "accountDoesNotExist"
    ALREADY_REPLACED = "alreadyReplaced"
    ALREADY_REVOKED = "alreadyRevoked"
    BAD_ATTESTATION_STATEMENT = "badAttestationStatement"
    BAD_CSR = "badCSR"
    BAD_NONCE = "badNonce"
    BAD_PUBLIC_KEY = "badPublicKey"
    BAD_REVOCATION_REASON = "badRevocationReason"
    BAD_SIGNATURE_ALGORITHM = "badSignatureAlgorithm"
    CAA = "caa"
    CONNECTION = "connection"
    DNS = "dns"
    EXTERNAL_ACCOUNT_REQUIRED = "externalAccountRequired"
    INCORRECT_RESPONSE = "incorrectResponse"
    INVALID_CONTACT = "invalidContact"
    INVALID_PROFILE = "invalidProfile"
    MALFORMED = "malformed"
    ORDER_NOT_READY = "orderNotReady"
    REJECTED_IDENTIFIER = "rejectedIdentifier"
    SERVER_INTERNAL = "serverInternal"
    TLS = "tls"
    UNAUTHORIZED = "unauthorized"
    UNSUPPORTED_CONTACT = "unsupportedContact"
    UNSUPPORTED_IDENTIFIER = "unsupportedIdentifier"

    @property
    def urn(self) -> str:
        return PROBLEM_PREFIX + self.value


_KINDS: dict[Problem, ErrorKind] = {
    Problem.ACCOUNT_DOES_NOT_EXIST: ErrorKind.BAD_REQUEST,
    Problem.ALREADY_REPLACED: ErrorKind.CONFLICT,
    Problem.UNAUTHORIZED: ErrorKind.FORBIDDEN,
    Problem.REJECTED_IDENTIFIER: ErrorKind.FORBIDDEN,
    Problem.ORDER_NOT_READY: ErrorKind.FORBIDDEN,
    Problem.SERVER_INTERNAL: ErrorKind.INTERNAL,
}


@dataclass(frozen=True)
class Subproblem:
    """A per-identifier problem inside a compound one (RFC 8555 section 6.7.1)."""

    problem: Problem
    detail: str
    identifier: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.problem.urn, "detail": self.detail, "identifier": self.identifier}


class AcmeError(ApplianceError):
    """A failure with an ACME problem type, optional subproblems."""

    def __init__(self, problem: Problem, detail: str, *, subproblems: tuple[Subproblem, ...] = (),
                 kind: ErrorKind | None = None) -> None:
        super().__init__(detail, kind=kind or _KINDS.get(problem, ErrorKind.BAD_REQUEST))
        self.problem = problem
        self.subproblems = subproblems

    def to_json(self) -> dict[str, Any]:
        """The problem document (also stored as a challenge's or order's ``error``)."""
        document: dict[str, Any] = {"type": self.problem.urn, "detail": self.message}
        if self.subproblems:
            document["subproblems"] = [s.to_json() for s in self.subproblems]
        return document
