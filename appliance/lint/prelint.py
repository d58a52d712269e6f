"""Lint before sign, as Boulder does: the document is first signed with a throw-away
key of the issuer's type, linted, and only a clean result goes to the real key
(a KMS operation). ``enforce`` refuses on an error finding, ``warn`` logs it and
goes on, ``off`` skips the work."""

from __future__ import annotations

import enum
import functools
import logging
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from appliance.errors import BadRequest
from appliance.pki.keys import ml_dsa_set, new_ml_dsa_key, signature_hash
from appliance.lint.findings import Finding

log = logging.getLogger(__name__)


class LintMode(enum.Enum):
    ENFORCE = "enforce"
    WARN = "warn"
    OFF = "off"


class LintFailed(BadRequest):
    """What was asked for would make a document that fails a lint; nothing was signed."""


@functools.cache
def _throwaway(kind: str, size: int) -> PrivateKeyTypes:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "ed448":
        return ed448.Ed448PrivateKey.generate()
    if kind == "ml-dsa":
        return new_ml_dsa_key(size)
    curves = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}
    return ec.generate_private_key(curves[size])


def throwaway_key(public_key: PublicKeyTypes) -> PrivateKeyTypes:
    """A software key of the same type and size as ``public_key`` (made once per process),
    so the throw-away signature has the real one's algorithm and about its length."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return _throwaway("rsa", public_key.key_size)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return _throwaway("ec", public_key.curve.key_size)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return _throwaway("ed25519", 0)
    if isinstance(public_key, ed448.Ed448PublicKey):
        return _throwaway("ed448", 0)
    number = ml_dsa_set(public_key)
    if number is not None:
        return _throwaway("ml-dsa", number)
    raise TypeError(f"no throw-away key for {type(public_key).__name__}")


@functools.cache
def throwaway_responder(certificate: x509.Certificate) -> tuple[PrivateKeyTypes, x509.Certificate]:
    """The throw-away key for ``certificate``'s key and a certificate of the same subject
    for it: what an OCSP response names as its responder when signed for linting."""
    key = throwaway_key(certificate.public_key())
    twin = (
        x509.CertificateBuilder().subject_name(certificate.subject).issuer_name(certificate.subject)
        .public_key(key.public_key()).serial_number(1)  # type: ignore[arg-type]
        .not_valid_before(certificate.not_valid_before_utc).not_valid_after(certificate.not_valid_after_utc)
        .sign(key, signature_hash(key))  # type: ignore[arg-type]
    )
    return key, twin


class Linter:
    """Runs one kind of lint over a throw-away-signed document, by mode."""

    def __init__(self, mode: LintMode, lint: Callable[[bytes], list[Finding]], what: str) -> None:
        self.mode = mode
        self._lint = lint
        self._what = what

    def check(self, sign_throwaway: Callable[[], bytes]) -> list[Finding]:
        """Lint the DER that ``sign_throwaway`` makes; raise ``LintFailed`` in enforce mode
        when an error is found. Findings are logged (they carry no secrets: names and codes)."""
        if self.mode is LintMode.OFF:
            return []
        findings = self._lint(sign_throwaway())
        errors = [f for f in findings if f.is_error]
        for finding in findings:
            log.log(logging.WARNING if finding.is_error else logging.INFO, "lint of the %s: %s", self._what, finding)
        if errors and self.mode is LintMode.ENFORCE:
            raise LintFailed(f"the {self._what} would fail lint: " + "; ".join(str(f) for f in errors))
        return findings

