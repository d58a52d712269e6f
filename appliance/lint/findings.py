"""DigiCert's pkilint over DER documents: certificates (RFC 5280, optionally the
CA/Browser Forum TLS server profile), CRLs and OCSP responses, as plain findings."""

from __future__ import annotations

import enum
import functools
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from pkilint import loader, pkix, validation
from pkilint.cabf import serverauth
from pkilint.pkix import certificate, crl, extension, name, ocsp

from appliance.lint.dispatch import index, remember_syntax_checks


class Profile(enum.Enum):
    """What a certificate is checked against."""

    PKIX = "pkix"
    CABF_SERVERAUTH = "cabf-serverauth"


@dataclass(frozen=True)
class Finding:
    """One pkilint finding: its code (the lint's name), severity and where it was found."""

    code: str
    severity: str
    message: str
    path: str

    @property
    def is_error(self) -> bool:
        return self.severity in ("ERROR", "FATAL")

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.severity} {self.code}{where}" + (f": {self.message}" if self.message else "")


def new_certificate_validator(profile: Profile) -> validation.ValidatorContainer:
    """pkilint's certificate validator for ``profile``, as pkilint builds it."""
    if profile is Profile.CABF_SERVERAUTH:
        kind = serverauth.serverauth_constants.CertificateType.DV_FINAL_CERTIFICATE
        return certificate.create_pkix_certificate_validator_container(
            serverauth.create_decoding_validators(), serverauth.create_validators(kind))
    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


def new_crl_validator() -> validation.ValidatorContainer:
    return crl.create_pkix_crl_validator_container(
        [pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
         pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS)],
        [crl.create_issuer_validator_container([]), crl.create_validity_validator_container([]),
         crl.create_extensions_validator_container([])],
    )


def new_ocsp_validator() -> validation.ValidatorContainer:
    return ocsp.create_pkix_ocsp_response_validator_container(
        [ocsp.create_response_decoder(), pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
         pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS)],
        [],
    )


@functools.cache
def _certificate_validator(profile: Profile) -> validation.ValidatorContainer:
    remember_syntax_checks()
    return index(new_certificate_validator(profile))


@functools.cache
def _crl_validator() -> validation.ValidatorContainer:
    return index(new_crl_validator())


@functools.cache
def _ocsp_validator() -> validation.ValidatorContainer:
    return index(new_ocsp_validator())


#: pkilint checks DNS names with a validator that wants a top-level domain and no
#: wildcard; RFC 5280's preferred name syntax (RFC 1034) also allows a single label,
#: which private CAs issue every day ("localhost", "db1"), and a leading "*." label
#: is how every CA writes a wildcard. Under the PKIX profile such names are no error.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_QUOTED = re.compile(r'"([^"]*)"')
_UUID_URN = re.compile(r"urn:uuid:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)
_PREFERRED_NAME = re.compile(rf'Invalid domain name syntax: "(?:\*\.)?{_LABEL}(?:\.{_LABEL})*"')


def _findings(results: Any, profile: Profile | None = None) -> list[Finding]:
    findings = [
        Finding(description.finding.code, description.finding.severity.name, description.message or "",
                str(result.node.path))
        for result in results for description in result.finding_descriptions
    ]
    if profile is not Profile.CABF_SERVERAUTH:
        findings = [f for f in findings if not _private_name(f)]
    return findings


def _private_name(finding: Finding) -> bool:
    """A finding that only says a DNS name or a URL's host is a single label (or a
    wildcard), or that a URI is a URN (pkilint takes every URI for a URL; step's host
    identity is a ``urn:uuid:``): valid by RFC 5280, the everyday names of a private CA."""
    if finding.code == "pkix.invalid_domain_name_syntax":
        return bool(_PREFERRED_NAME.fullmatch(finding.message))
    if finding.code == "pkix.invalid_uri_syntax":
        quoted = _QUOTED.search(finding.message)
        if quoted is None:
            return False
        if _UUID_URN.fullmatch(quoted.group(1)):
            return True
        url = urllib.parse.urlsplit(quoted.group(1))
        return url.scheme in ("http", "https") and bool(url.hostname) and re.fullmatch(_LABEL, url.hostname or "") is not None
    return False


def _run(validator: validation.ValidatorContainer, document_loader: Any, der: bytes, what: str,
         profile: Profile | None = None) -> list[Finding]:
    try:
        document = document_loader.load_der_document(der, what)
    except ValueError as exc:
        return [Finding("pkilint.decoding_failed", "FATAL", str(exc), "")]
    return _findings(validator.validate(document.root), profile)


def lint_certificate(der: bytes, profile: Profile = Profile.PKIX) -> list[Finding]:
    return _run(_certificate_validator(profile), loader.RFC5280CertificateDocumentLoader(), der, "certificate",
                profile)


def lint_crl(der: bytes) -> list[Finding]:
    return _run(_crl_validator(), loader.RFC5280CertificateListDocumentLoader(), der, "crl")


def lint_ocsp_response(der: bytes) -> list[Finding]:
    return _run(_ocsp_validator(), loader.RFC6960OCSPResponseDocumentLoader(), der, "ocsp")
