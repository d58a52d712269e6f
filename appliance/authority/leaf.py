"""Build, sign and verify leaf certificates under the intermediate."""

from __future__ import annotations

import datetime
import os

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from appliance.errors import ApplianceError, BadRequest
from appliance.lint import Linter, LintMode, lint_certificate, throwaway_key
from appliance.pki.keys import signature_hash

_REGENERATED = (ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)


class IssuanceFailed(ApplianceError):
    """A certificate we signed does not verify: never returned, never recorded."""


def random_serial() -> int:
    """A random positive serial of up to 127 bits (never zero)."""
    return (int.from_bytes(os.urandom(16), "big") >> 1) or 1


def key_usage(public_key: CertificatePublicKeyTypes) -> x509.KeyUsage:
    """digitalSignature, plus keyEncipherment for RSA keys."""
    rsa_key = isinstance(public_key, rsa.RSAPublicKey)
    return x509.KeyUsage(True, False, rsa_key, False, False, False, False, False, False)


class LeafSigner:
    """The intermediate's signer and everything per-issuance work can reuse."""

    def __init__(self, issuer: x509.Certificate, signer: PrivateKeyTypes, linter: Linter | None = None) -> None:
        self.issuer = issuer
        self.signer = signer
        self.linter = linter or Linter(LintMode.OFF, lint_certificate, "certificate")
        self._throwaway = throwaway_key(issuer.public_key())
        self._hash = signature_hash(signer)
        self._aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
        self._eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])

    def cap(self, not_after: datetime.datetime) -> datetime.datetime:
        """No leaf outlives its issuer."""
        return min(not_after, self.issuer.not_valid_after_utc)

    def new_leaf(self, *, common_name: str, san: list[x509.GeneralName], public_key: CertificatePublicKeyTypes,
                 not_before: datetime.datetime, not_after: datetime.datetime,
                 extensions: list[x509.ExtensionType]) -> x509.Certificate:
        """A leaf with step-ca's defaults: CN, SANs, KU, EKU serverAuth+clientAuth, SKI/AKI."""
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]) if common_name else x509.Name([])
        builder = self._builder(subject, public_key, not_before, not_after)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(key_usage(public_key), critical=True)
        builder = builder.add_extension(self._eku, critical=False)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=not common_name)
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        return self._sign(builder)

    def new_from_profile(self, *, subject: x509.Name, extensions: list[x509.Extension[x509.ExtensionType]],
                         public_key: CertificatePublicKeyTypes, not_before: datetime.datetime,
                         not_after: datetime.datetime, linter: Linter | None = None) -> x509.Certificate:
        """A leaf with a template's subject and extensions (in order), after SKI/AKI and, unless
        the template sets basicConstraints, the critical ``CA:FALSE`` every leaf here carries."""
        builder = self._builder(subject, public_key, not_before, not_after)
        if not any(extension.oid == ExtensionOID.BASIC_CONSTRAINTS for extension in extensions):
            builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        for extension in extensions:
            builder = builder.add_extension(extension.value, critical=extension.critical)
        return self._sign(builder, linter)

    def ocsp_responder(self, public_key: CertificatePublicKeyTypes, not_before: datetime.datetime,
                       not_after: datetime.datetime) -> x509.Certificate:
        """A delegated OCSP responder's certificate: OCSPSigning only, and no revocation
        check of it (id-pkix-ocsp-nocheck), so it must be short-lived."""
        common_names = [str(a.value) for a in self.issuer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        name = f"{common_names[0] if common_names else 'CA'} OCSP Responder"
        builder = self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), public_key,
                                not_before, not_after)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                                        critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        return self._sign(builder)

    def reissue(self, old: x509.Certificate, public_key: CertificatePublicKeyTypes,
                not_before: datetime.datetime, not_after: datetime.datetime) -> x509.Certificate:
        """``old`` with a new serial, validity and (for rekey) key; SKI/AKI regenerated."""
        builder = self._builder(old.subject, public_key, not_before, not_after)
        for extension in old.extensions:
            if extension.oid in _REGENERATED:
                continue
            value = key_usage(public_key) if extension.oid == ExtensionOID.KEY_USAGE else extension.value
            builder = builder.add_extension(value, critical=extension.critical)
        return self._sign(builder)

    def _builder(self, subject: x509.Name, public_key: CertificatePublicKeyTypes,
                 not_before: datetime.datetime, not_after: datetime.datetime) -> x509.CertificateBuilder:
        if not_before >= self.cap(not_after):
            raise BadRequest(f"notBefore {not_before.isoformat()} is not before the issuing CA certificate's "
                             f"expiry {self.issuer.not_valid_after_utc.isoformat()}")
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.issuer.subject)
            .public_key(public_key)
            .serial_number(random_serial())
            .not_valid_before(not_before)
            .not_valid_after(self.cap(not_after))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(self._aki, critical=False)
        )

    def _sign(self, builder: x509.CertificateBuilder, linter: Linter | None = None) -> x509.Certificate:
        """Lint (signed with the throw-away key; ``linter`` instead of the CA's), then sign
        through the KMS and verify."""
        (linter or self.linter).check(lambda: builder.sign(self._throwaway, self._hash)  # type: ignore[arg-type]
                                      .public_bytes(serialization.Encoding.DER))
        certificate = builder.sign(self.signer, self._hash)  # type: ignore[arg-type]
        self.verify(certificate)
        return certificate

    def verify(self, certificate: x509.Certificate) -> None:
        """The certificate's signature verifies with the intermediate's public key."""
        try:
            certificate.verify_directly_issued_by(self.issuer)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise IssuanceFailed(f"issued certificate does not verify against the intermediate: {exc}") from None
