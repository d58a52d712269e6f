"""Check what the HSM produced before it is written: our own reading of every
field that was asked for, then independent tools on the result (openssl, and
pkilint as the online CA lints what it signs).

Each check returns the names of what it checked (for the transcript) or raises
``LintFailed``; nothing is written when a check fails.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from appliance.ceremony.build import authority_key_identifier, key_usage, signature_hash
from appliance.ceremony.errors import LintFailed
from appliance.ceremony.model import CertificateProfile, CrlCeremony
from appliance.kms import SignatureAlgorithm
from appliance.lint import Finding
from appliance.lint import lint_certificate as pkilint_certificate
from appliance.lint import lint_crl as pkilint_crl


def spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: PublicKeyTypes) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, hex."""
    return hashlib.sha256(spki(key)).hexdigest()


class _Checks:
    """Named checks; the first one that fails stops the lint."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.passed: list[str] = []

    def __call__(self, name: str, ok: bool) -> None:
        if not ok:
            raise LintFailed(f"lint of the {self.what} failed: {name}")
        self.passed.append(name)

    def pkilint(self, findings: list[Finding]) -> None:
        """No error finding from pkilint (the online CA's linter, RFC 5280 profile)."""
        errors = [str(f) for f in findings if f.is_error]
        self("pkilint (RFC 5280) finds no error" + (": " + "; ".join(errors) if errors else ""), not errors)


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise LintFailed(f"openssl {args[0]} rejected the result: {detail[-1] if detail else 'no output'}")


def _pem_file(folder: str, name: str, data: bytes) -> str:
    path = os.path.join(folder, name)
    Path(path).write_bytes(data)
    return path


Extensible = x509.Certificate | x509.CertificateSigningRequest | x509.RevokedCertificate


def _extension(item: Extensible, kind: type) -> x509.Extension | None:
    try:
        return item.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def lint_key(created: PublicKeyTypes, on_hsm: PublicKeyTypes, signer: PrivateKeyTypes) -> list[str]:
    """The new key is the one the HSM reports and it signs."""
    checks = _Checks("new key")
    checks("public key read back from the HSM matches", spki(created) == spki(on_hsm))
    algorithm = SignatureAlgorithm.default_for(on_hsm)
    challenge = os.urandom(32)
    try:
        algorithm.verify(on_hsm, algorithm.sign(signer, challenge), challenge)
        signs = True
    except InvalidSignature:
        signs = False
    checks(f"test signature ({algorithm.name}) verifies", signs)
    return checks.passed


def _midpoint(cert: x509.Certificate) -> datetime.datetime:
    return cert.not_valid_before_utc + (cert.not_valid_after_utc - cert.not_valid_before_utc) / 2


def lint_certificate(
    cert: x509.Certificate,
    profile: CertificateProfile,
    subject_key: PublicKeyTypes,
    issuer: x509.Certificate | None,
    issuer_path: Path | None,
) -> list[str]:
    """Every field asked for is there, and ``openssl verify`` accepts the chain."""
    checks = _Checks("certificate")
    issuer_cert = issuer or cert
    checks("subject as asked", cert.subject == profile.subject.name())
    checks("issuer name", cert.issuer == issuer_cert.subject)
    checks("public key as asked", spki(cert.public_key()) == spki(subject_key))
    checks("validity as asked", (cert.not_valid_before_utc, cert.not_valid_after_utc)
           == (profile.not_before.replace(microsecond=0), profile.not_after.replace(microsecond=0)))
    checks("serial number positive, at least 64 random bits", 2**64 <= cert.serial_number < 2**159)
    bc = _extension(cert, x509.BasicConstraints)
    checks("basic constraints critical, CA, path length as asked",
           bc is not None and bc.critical and bc.value == x509.BasicConstraints(True, profile.path_length))
    ku = _extension(cert, x509.KeyUsage)
    checks("key usage critical, as asked", ku is not None and ku.critical and ku.value == key_usage(profile.key_usages))
    ski = _extension(cert, x509.SubjectKeyIdentifier)
    checks("subject key identifier", ski is not None
           and ski.value == x509.SubjectKeyIdentifier.from_public_key(subject_key))  # type: ignore[arg-type]
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    expected_aki = authority_key_identifier(issuer) if issuer is not None else None
    checks("authority key identifier", aki is not None and aki.value.key_identifier == (
        expected_aki.key_identifier if expected_aki else ski.value.digest))  # type: ignore[union-attr]
    checks("signature algorithm fits the issuer key", type(cert.signature_hash_algorithm)
           is type(signature_hash(issuer_cert.public_key())))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    with tempfile.TemporaryDirectory() as folder:
        path = _pem_file(folder, "candidate.pem", pem)
        anchor = str(issuer_path) if issuer_path is not None else path
        args = ["verify", "-x509_strict", "-check_ss_sig", "-purpose", "any",
                "-attime", str(int(_midpoint(cert).timestamp())), "-CAfile", anchor]
        if issuer is not None and issuer.issuer != issuer.subject:
            args.append("-partial_chain")
        _openssl(*args, path)
    checks.passed.append("openssl verify")
    checks.pkilint(pkilint_certificate(cert.public_bytes(serialization.Encoding.DER)))
    return checks.passed


def lint_csr(request: x509.CertificateSigningRequest, key: PublicKeyTypes, subject: x509.Name) -> list[str]:
    """The CSR is for the HSM key, names the subject, and ``openssl req -verify`` accepts it."""
    checks = _Checks("CSR")
    checks("public key is the HSM key", spki(request.public_key()) == spki(key))
    checks("subject as asked", request.subject == subject)
    checks("signature verifies", request.is_signature_valid)
    with tempfile.TemporaryDirectory() as folder:
        _openssl("req", "-verify", "-noout", "-in",
                 _pem_file(folder, "candidate.csr", request.public_bytes(serialization.Encoding.PEM)))
    checks.passed.append("openssl req -verify")
    return checks.passed


def lint_crl(crl: x509.CertificateRevocationList, ceremony: CrlCeremony) -> list[str]:
    """Number, dates, AKI and entries as asked; ``openssl crl -verify`` accepts it."""
    checks = _Checks("CRL")
    checks("issuer name", crl.issuer == ceremony.issuer.subject)
    checks("signature verifies with the issuer key", crl.is_signature_valid(ceremony.issuer.public_key()))  # type: ignore[arg-type]
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    checks("CRL number as asked", number == ceremony.number)
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    checks("authority key identifier", aki.key_identifier == authority_key_identifier(ceremony.issuer).key_identifier)
    checks("this/next update as asked", (crl.last_update_utc, crl.next_update_utc)
           == (ceremony.this_update.replace(microsecond=0), ceremony.next_update.replace(microsecond=0)))
    listed = {r.serial_number: r for r in crl}
    checks("revoked serials as listed", set(listed) == {r.serial for r in ceremony.revoked})
    for entry in ceremony.revoked:
        got = listed[entry.serial]
        reason = _extension(got, x509.CRLReason)
        checks(f"entry {entry.serial:x}: date and reason",
               got.revocation_date_utc == entry.revoked_at.replace(microsecond=0)
               and (reason.value.reason if reason else None) == entry.reason)
    with tempfile.TemporaryDirectory() as folder:
        _openssl("crl", "-verify", "-noout", "-CAfile", str(ceremony.issuer_path), "-in",
                 _pem_file(folder, "candidate.crl", crl.public_bytes(serialization.Encoding.PEM)))
    checks.passed.append("openssl crl -verify")
    checks.pkilint(pkilint_crl(crl.public_bytes(serialization.Encoding.DER)))
    return checks.passed
