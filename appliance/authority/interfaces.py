"""The narrow interface that the API and the protocol cores (ACME, SCEP, SSH)
use; ``appliance.authority.authority.Authority`` implements it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PrivateKeyTypes

from appliance.audit import AuditSink
from appliance.authority.admin_token import AdminCredential
from appliance.authority.ssh_interface import SshAuthorityInterface
from appliance.errors import Forbidden
from appliance.provisioner import Names, Provisioner
from appliance.provisioner.acme import ACMEProvisioner
from appliance.provisioner.scep import SCEPProvisioner

#: A requested time: absolute, or a duration from the instant the authority checks it at.
TimeOrDuration = datetime.datetime | datetime.timedelta


class KeyCompromised(Forbidden):
    """The request's public key belongs to a certificate revoked for keyCompromise."""


@dataclass(frozen=True)
class IssuedCertificate:
    """A verified, recorded certificate and the chain up to (not including) the root."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]


@dataclass(frozen=True)
class ScepChallengeVerdict:
    """A SCEP challenge accepted (``webhooks``: the data of the SCEPCHALLENGE webhooks that
    allowed it, for the template at ``.Webhooks.<name>``), or ``pending``: a webhook cannot
    decide yet. A refused challenge is an ``Unauthorized`` or ``Forbidden`` error instead."""

    pending: bool = False
    webhooks: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SignRequest:
    """``POST /sign``: a CSR authorised by a one-time token."""

    csr: x509.CertificateSigningRequest
    token: str
    not_before: TimeOrDuration | None = None
    not_after: TimeOrDuration | None = None
    template_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RevokeRequest:
    """``POST /revoke``: by token, or by the certificate presented over mTLS."""

    serial: str
    reason_code: int = 0
    reason: str = ""
    passive: bool = True
    token: str | None = None
    client_certificate: x509.Certificate | None = None


class AdminAuthorityInterface(Protocol):
    """What the admin API core (``appliance.admin``) asks of the CA."""

    audit: AuditSink

    def authorize_admin_token(self, token: str, endpoint: str) -> AdminCredential:
        """Check a one-time admin token for the request at ``endpoint`` (its path, no leading ``/``)."""
        ...

    def check_authority_policy(self, policy: dict[str, Any], admin_subjects: Iterable[str]) -> None:
        """``BadRequest`` if ``policy`` would not load as the authority's (ca.json ``policy``)
        or would refuse certificates to one of ``admin_subjects``."""
        ...

    def build_provisioners(self, configs: list[dict[str, Any]]) -> Iterable[Provisioner]:
        """Build ca.json provisioner objects as the CA would; ``BadRequest`` if one would not load."""
        ...


class AuthorityInterface(Protocol):
    """Everything the HTTP API and protocol cores may ask of the CA."""

    #: The intermediate key signs in this process (softkms: ~0.1 ms of CPU), not on a
    #: device or a cloud service that can take tens of milliseconds or a network trip.
    signs_in_process: bool
    #: The intermediate key is a device key (:mod:`appliance.kms.signer`): only its device call
    #: blocks, the rest of an issuance may run on the event loop (:mod:`appliance.pki.blocking`).
    signs_on_device: bool
    @property
    def ssh(self) -> SshAuthorityInterface | None:
        """The SSH CA; None when ca.json has no ``ssh`` section."""
        ...

    def sign(self, request: SignRequest) -> IssuedCertificate: ...

    def sign_identity(self, request: SignRequest) -> IssuedCertificate:
        """The X.509 identity certificate of an ``/ssh/sign`` (its token, already spent)."""
        ...

    def renew(self, certificate: x509.Certificate) -> IssuedCertificate:
        """Renew a certificate whose possession was proven (mTLS or x5c token)."""
        ...

    def authorize_renew_token(self, token: str) -> x509.Certificate:
        """Check a renew token (x5c header, signed by the certificate's key); the certificate."""
        ...

    def rekey(self, certificate: x509.Certificate, csr: x509.CertificateSigningRequest) -> IssuedCertificate: ...

    def revoke(self, request: RevokeRequest) -> None: ...

    def sign_for_order(self, csr: x509.CertificateSigningRequest, provisioner: ACMEProvisioner, names: Names,
                       not_before: datetime.datetime | None = None,
                       not_after: datetime.datetime | None = None,
                       attestation: dict[str, Any] | None = None) -> IssuedCertificate:
        """Issue an ACME order's certificate for exactly ``names`` (challenges already met), or
        for the permanent identifier a device-attest-01 ``attestation`` proved."""
        ...

    def check_scep_challenge(self, provisioner: SCEPProvisioner, csr: x509.CertificateSigningRequest,
                             challenge: bytes | None, transaction_id: str) -> ScepChallengeVerdict:
        """Judge a SCEP request's challenge password: by the provisioner's SCEPCHALLENGE webhooks
        (with the CSR; ``challenge`` None: a poll of a deferred transaction, asked again without
        it), else its static ``challenge``. ``Unauthorized``/``Forbidden`` when refused."""
        ...

    def sign_for_scep(self, csr: x509.CertificateSigningRequest, provisioner: SCEPProvisioner,
                      webhooks: dict[str, Any] | None = None) -> IssuedCertificate:
        """Issue the certificate of a SCEP request whose challenge was met (the CSR's names;
        ``webhooks``: the challenge webhooks' data for the template)."""
        ...

    def scep_requester(self, certificate: x509.Certificate) -> None:
        """GetCert and GetCRL: ``certificate`` (the request's signer) must be one this CA
        issued, valid now and not revoked; ``Unauthorized`` otherwise."""
        ...

    def issued_certificate(self, serial: int) -> x509.Certificate | None:
        """The certificate this CA issued with ``serial``; None if there is none."""
        ...

    def renew_for_scep(self, certificate: x509.Certificate, csr: x509.CertificateSigningRequest,
                       provisioner: SCEPProvisioner) -> IssuedCertificate:
        """Issue a SCEP RenewalReq signed by ``certificate`` (issued by ``provisioner``, valid,
        not revoked), for the CSR's names within ``certificate``'s."""
        ...

    def notify_scep(self, provisioner: SCEPProvisioner, csr: x509.CertificateSigningRequest, transaction_id: str, *,
                    certificate: x509.Certificate | None = None, error: str = "") -> None:
        """Tell the provisioner's NOTIFYING webhooks how a SCEP request ended (never fails)."""
        ...

    def sign_authenticated(self, csr: x509.CertificateSigningRequest, provisioner: Provisioner,
                           public_key: CertificatePublicKeyTypes | None = None) -> IssuedCertificate:
        """Issue for a CSR whose requester a protocol core authenticated (EST), for
        ``public_key`` (a key the core generated) instead of the CSR's when given."""
        ...

    def content_signer(self) -> tuple[PrivateKeyTypes, x509.Certificate]:
        """The issuing key (its KMS signer) and certificate, for CMS content the CA vouches for."""
        ...

    def refused_names(self, provisioner: Provisioner, names: Names, common_name: str = "") -> dict[str, str]:
        """The names the authority's or the provisioner's policy refuses, each with the reason."""
        ...

    def revoke_authorized(self, serial: str, reason_code: int, reason: str, provisioner: str) -> None:
        """Revoke a certificate whose revocation a protocol core authorised (ACME);
        ``Conflict`` if it is already revoked."""
        ...

    def provisioner(self, name: str) -> Provisioner:
        """The provisioner called ``name``; ``NotFound`` if none."""
        ...

    def roots(self) -> list[x509.Certificate]: ...

    def intermediates(self) -> list[x509.Certificate]: ...

    def federated_roots(self) -> list[x509.Certificate]: ...

    def provisioners(self, cursor: str = "", limit: int = 20) -> tuple[list[dict[str, Any]], str]:
        """Provisioners as step-ca's JSON, and the next cursor ("" at the end)."""
        ...

    def encrypted_key(self, kid: str) -> str:
        """The JWE of a JWK provisioner's private key; ``NotFound`` if none."""
        ...

    def is_revoked(self, serial: str) -> bool:
        """Whether the certificate with this (decimal) serial has been revoked."""
        ...

    def crl(self) -> bytes:
        """The current CRL, DER."""
        ...

    def root_crl(self) -> bytes | None:
        """The root's CRL (``crl.rootCRL``), DER; None without one."""
        ...

    def ocsp(self, request_der: bytes) -> bytes:
        """The DER OCSP response to a DER OCSP request (an OCSP error status for bad
        requests); ``NotImplementedFeature`` when the responder is not enabled."""
        ...
