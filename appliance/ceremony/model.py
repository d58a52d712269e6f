"""Typed ceremonies, as read and checked from a ceremony file."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from appliance.kms import KeyType

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Subject:
    """A distinguished name; only the attributes a CA certificate needs."""

    common_name: str
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None

    def name(self) -> x509.Name:
        parts = [
            (NameOID.COUNTRY_NAME, self.country),
            (NameOID.STATE_OR_PROVINCE_NAME, self.state),
            (NameOID.LOCALITY_NAME, self.locality),
            (NameOID.ORGANIZATION_NAME, self.organization),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, self.organizational_unit),
            (NameOID.COMMON_NAME, self.common_name),
        ]
        return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts if value is not None])


@dataclass(frozen=True)
class NameConstraints:
    """Permitted and excluded subtrees (the extension is marked critical)."""

    permitted_dns: tuple[str, ...] = ()
    excluded_dns: tuple[str, ...] = ()
    permitted_ip: tuple[Network, ...] = ()
    excluded_ip: tuple[Network, ...] = ()
    permitted_email: tuple[str, ...] = ()
    excluded_email: tuple[str, ...] = ()


@dataclass(frozen=True)
class CertificateProfile:
    """What a root or intermediate certificate says; the key and issuer come apart."""

    subject: Subject
    not_before: datetime.datetime
    not_after: datetime.datetime
    path_length: int
    key_usages: frozenset[str]
    extended_key_usages: tuple[x509.ObjectIdentifier, ...] = ()
    policy_oids: tuple[x509.ObjectIdentifier, ...] = ()
    crl_urls: tuple[str, ...] = ()
    ocsp_urls: tuple[str, ...] = ()
    issuer_urls: tuple[str, ...] = ()
    name_constraints: NameConstraints | None = None


@dataclass(frozen=True)
class CsrProfile:
    """What a CSR asks for: a subject and, for a CA key, CA basic constraints."""

    subject: Subject
    path_length: int | None
    key_usages: frozenset[str]


@dataclass(frozen=True)
class Revocation:
    serial: int
    revoked_at: datetime.datetime
    reason: x509.ReasonFlags | None


@dataclass(frozen=True)
class Ceremony:
    """What every ceremony has: where it came from, the HSM, the key, the transcript."""

    source: Path
    sha256: str
    operator: str | None
    kms: str
    key: str
    transcript: Path

    type = ""

    def outputs(self) -> dict[str, Path]:
        """Output name -> path, in the order they are written."""
        raise NotImplementedError


@dataclass(frozen=True)
class KeyCeremony(Ceremony):
    key_type: KeyType
    public_key_out: Path

    type = "key"

    def outputs(self) -> dict[str, Path]:
        return {"public-key": self.public_key_out}


@dataclass(frozen=True)
class RootCeremony(Ceremony):
    profile: CertificateProfile
    certificate_out: Path

    type = "root"

    def outputs(self) -> dict[str, Path]:
        return {"certificate": self.certificate_out}


@dataclass(frozen=True)
class IntermediateCeremony(Ceremony):
    issuer: x509.Certificate
    issuer_path: Path
    subject_key: PublicKeyTypes
    profile: CertificateProfile
    certificate_out: Path

    type = "intermediate"

    def outputs(self) -> dict[str, Path]:
        return {"certificate": self.certificate_out}


@dataclass(frozen=True)
class CsrCeremony(Ceremony):
    profile: CsrProfile
    csr_out: Path

    type = "csr"

    def outputs(self) -> dict[str, Path]:
        return {"csr": self.csr_out}


@dataclass(frozen=True)
class CrossCsrCeremony(Ceremony):
    """A CSR for an existing CA certificate's key and subject, to be cross-signed."""

    certificate: x509.Certificate
    csr_out: Path

    type = "cross-csr"

    def outputs(self) -> dict[str, Path]:
        return {"csr": self.csr_out}


@dataclass(frozen=True)
class CrlCeremony(Ceremony):
    issuer: x509.Certificate
    issuer_path: Path
    number: int
    this_update: datetime.datetime
    next_update: datetime.datetime
    revoked: tuple[Revocation, ...]
    crl_der_out: Path
    crl_pem_out: Path

    type = "crl"

    def outputs(self) -> dict[str, Path]:
        return {"crl-der": self.crl_der_out, "crl-pem": self.crl_pem_out}


AnyCeremony = KeyCeremony | RootCeremony | IntermediateCeremony | CsrCeremony | CrossCsrCeremony | CrlCeremony
