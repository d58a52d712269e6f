"""The online CA: sign, renew, rekey and revoke, authorised by provisioners."""

from __future__ import annotations

import datetime
import functools
import logging
from typing import Any, Callable, Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PrivateKeyTypes

from appliance.audit import NO_AUDIT, AuditSink
from appliance.authority import events
from appliance.authority.attested import add_attestation, attested_options
from appliance.authority.crl import CrlPublisher
from appliance.authority.root_crl import RootCrl, load_root_crl
from appliance.authority.interfaces import (IssuedCertificate, KeyCompromised, RevokeRequest, ScepChallengeVerdict,
                                            SignRequest)
from appliance.authority.leaf import IssuanceFailed, LeafSigner
from appliance.authority.ocsp import OcspResponder, ResponderDelegate
from appliance.authority.urls import revocation_urls, url_extensions
from appliance.pki.keys import spki_sha256
from appliance.pki.pem import fingerprint, load_certificates, to_pem
from appliance.authority.admin_token import (
    ADMIN_CLIENT_ISSUER, AdminCredential, certificate_names, verify_admin_token,
)
from appliance.authority.renew_token import verify_renew_token
from appliance.authority.ssh import SshAuthority, SshSigners, open_ssh_signers
from appliance.db.admin_store import AdminStateCache
from appliance.db.ssh_store import SQLSshStore
from appliance.policy import SshPolicy
from appliance.authority.request import authorised_names, csr_common_name, csr_names, csr_public_key, validity
from appliance.authority.templating import (
    CertificateProfile,
    default_leaf_profile,
    render_profile,
    template_data,
    with_default_subject,
    with_must_staple,
)
from appliance.authority.webhooks import authorize, enrich, notify, scep_challenge
from appliance.config import CaConfig
from appliance.db.interfaces import CertificateRecord, Database, KeyBlocked, RevocationRecord
from appliance.errors import BadRequest, Conflict, NotFound, Unauthorized
from appliance.pki.serial import parse_serial
from appliance.jose import UnverifiedToken
from appliance.kms import KeyManager, open_key_manager
from appliance.kms.signer import DEVICE_KEYS
from appliance.lint import Linter, LintMode, Profile, lint_certificate, lint_crl, lint_ocsp_response
from appliance.policy import NamePolicy, NamesRefused
from appliance.provisioner import (
    Audiences,
    Claimer,
    Collection,
    Names,
    Provisioner,
    ProvisionerContext,
    ProvisionerExtension,
    SignOptions,
    TokenUse,
)
from appliance.provisioner.acme import ACMEProvisioner
from appliance.provisioner.scep import SCEPProvisioner
from appliance.provisioner.nebula_cert import NebulaCertificate
from appliance.provisioner.webhooks import WebhookClient
from appliance.pki.clock import utc_now

log = logging.getLogger(__name__)


SERIAL_ATTEMPTS = 3
#: RFC 5280 reason codes; 7 is unused.
REASON_CODES = frozenset(range(11)) - {7}
KEY_COMPROMISE = 1
AUTHORITY_PROVISIONER = "authority"


def _kms_uri(config: CaConfig) -> str | None:
    """The ``kms`` section as a KMS URI (softkms when there is none)."""
    if config.kms is None:
        return None
    return config.kms.uri or f"{config.kms.type}:"


def _verifies(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


class Authority:
    """Implements ``AuthorityInterface``; thread-safe, built once per configuration."""

    def __init__(self, config: CaConfig, database: Database, signer: PrivateKeyTypes, *,
                 roots: list[x509.Certificate], intermediates: list[x509.Certificate],
                 federated_roots: list[x509.Certificate] | None = None,
                 now: Callable[[], datetime.datetime] = utc_now, key_manager: KeyManager | None = None,
                 started_at: datetime.datetime | None = None, webhook_client: WebhookClient | None = None,
                 ssh_signers: SshSigners | None = None) -> None:
        """``started_at`` is when the CA started (tokens issued before it are refused
        unless ``disableIssuedAtCheck``): ``appliance serve`` passes its own start so
        that every worker, of every generation, uses the same one; default: now."""
        if not roots or not intermediates:
            raise BadRequest("the CA needs a root and an intermediate certificate")
        self.config = config
        self.database = database
        self._now = now
        self._key_manager = key_manager
        self.webhook_client = webhook_client or WebhookClient()
        self.audit: AuditSink = NO_AUDIT  # the serving runtime sets the database's audit log
        self._roots = list(roots)
        self._intermediates = list(intermediates)
        self._federated = list(federated_roots or [])
        self._check_chain(signer)
        lint_mode, profile = LintMode(config.lint.mode), Profile(config.lint.profile)
        self.leaf_signer = LeafSigner(self._intermediates[0], signer, Linter(
            lint_mode, functools.partial(lint_certificate, profile=profile), "certificate"))
        #: The linters of provisioners whose ``lint.mode`` overrides the authority's.
        self._provisioner_linters = {mode.value: Linter(mode, functools.partial(lint_certificate, profile=profile),
                                                        "certificate") for mode in LintMode}
        self.signs_in_process = type(signer).__module__.startswith("cryptography.hazmat.bindings.")
        self.signs_on_device = isinstance(signer, DEVICE_KEYS)
        self.root_fingerprint = fingerprint(self._roots[0])
        self.started_at = started_at or now()
        self.audiences = Audiences(frozenset(config.hosts))
        self.policy = NamePolicy.from_config(config.authority.policy, "authority policy")
        claims = Claimer(disable_issued_at_check=config.authority.disable_issued_at_check)
        context = ProvisionerContext(
            audiences=self.audiences,
            root_fingerprint=self.root_fingerprint,
            started_at=self.started_at.replace(microsecond=0),
            claims=claims.merged(config.authority.claims, "authority"),
            now=now,
            base_dir=config.base_dir,
        )
        self._provisioner_context = context
        self._collection = self.build_provisioners(config.authority.provisioners)
        self._admin_state: AdminStateCache | None = None
        self._collection_revision = -1
        self._ssh_signers = ssh_signers
        #: The SSH CA (``ssh`` in ca.json and its keys opened), else None.
        self.ssh = SshAuthority(
            config.ssh, SQLSshStore(database), lambda: self.provisioner_collection,
            SshPolicy.from_config(config.authority.policy, "authority policy"),
            user_signer=ssh_signers.user, host_signer=ssh_signers.host, now=now,
            backdate=config.authority.backdate, webhook_client=lambda: self.webhook_client,
            disable_hosts=config.raw.get("authority", {}).get("disableGetSSHHosts") is True,
            templates=config.ssh_templates) if config.ssh is not None and ssh_signers is not None else None
        self.revocation_urls = revocation_urls(config)
        self._root_crl = (RootCrl(load_root_crl(config.crl.root_crl, self._roots[0]), now)
                          if config.crl.root_crl else None)
        self._crl = CrlPublisher(config.crl, self._intermediates[0], signer, database, now,
                                 Linter(lint_mode, lint_crl, "CRL"))
        self._ocsp = OcspResponder(config.ocsp, self._intermediates[0], signer, database, now,
                                   Linter(lint_mode, lint_ocsp_response, "OCSP response"), self._ocsp_delegate())

    def _ocsp_delegate(self) -> ResponderDelegate | None:
        """The delegated OCSP responder when ``ocsp.responderKey`` names its key."""
        key = self.config.ocsp.responder_key
        if not key:
            return None
        if self._key_manager is None:
            raise BadRequest("ocsp.responderKey needs the CA's KMS")

        def issue(public_key: CertificatePublicKeyTypes) -> x509.Certificate:
            now = self._now()
            return self._issue(lambda: self.leaf_signer.ocsp_responder(
                public_key, now - self.config.authority.backdate, now + self.config.ocsp.responder_validity),
                (), AUTHORITY_PROVISIONER).certificate

        return ResponderDelegate(self._key_manager.create_signer(key), issue, self._now)

    @classmethod
    def from_config(cls, config: CaConfig, database: Database, *, password: bytes | None = None,
                    started_at: datetime.datetime | None = None) -> Authority:
        """Load certificates and open the intermediate's key through the configured KMS."""
        if password is None and config.password:
            password = config.password.encode()
        key_manager = open_key_manager(_kms_uri(config), password=password)
        ssh_signers = None
        try:
            signer = key_manager.create_signer(config.key)
            if config.ssh is not None:
                ssh_signers = open_ssh_signers(config.ssh, key_manager, config.kms.type if config.kms else "softkms",
                                               password)
            return cls(
                config, database, signer,
                roots=[c for path in config.root for c in load_certificates(path)],
                intermediates=load_certificates(config.crt),
                federated_roots=[c for path in config.federated_roots for c in load_certificates(path)],
                key_manager=key_manager, started_at=started_at, ssh_signers=ssh_signers,
            )
        except BaseException:
            if ssh_signers is not None:
                ssh_signers.close()
            key_manager.close()
            raise

    def _check_chain(self, signer: PrivateKeyTypes) -> None:
        """The key is the intermediate's, and the intermediates chain to a root."""
        if signer.public_key() != self._intermediates[0].public_key():
            raise BadRequest("the intermediate key does not match the intermediate certificate")
        links = zip(self._intermediates, self._intermediates[1:])
        if not all(_verifies(child, parent) for child, parent in links) or not any(
            _verifies(self._intermediates[-1], root) for root in self._roots
        ):
            raise BadRequest("the intermediate certificate does not chain to the root")

    def build_provisioners(self, configs: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> Collection:
        """Provisioners built from ca.json objects as this CA builds its own; ``BadRequest``
        naming the first that would not load."""
        return Collection.from_config(configs, self._provisioner_context)

    def check_authority_policy(self, policy: dict[str, Any], admin_subjects: Iterable[str]) -> None:
        """``BadRequest`` naming what is wrong if ``policy`` would not load as the authority's,
        or would refuse certificates to one of ``admin_subjects`` (it would lock them out)."""
        names = NamePolicy.from_config(policy, "authority policy")
        SshPolicy.from_config(policy, "authority policy")
        for subject in admin_subjects:
            parsed = Names.parse([subject])
            refused = names.refusals(dns=parsed.dns, ips=parsed.ips, emails=parsed.emails, uris=parsed.uris,
                                     common_name=subject)
            if refused:
                raise BadRequest(f"the policy would lock out admin '{subject}': {next(iter(refused.values()))}")

    def use_admin_state(self, state: AdminStateCache) -> None:
        """Serve the provisioners kept in the database (``enableAdmin``), as ``state`` reads them."""
        self._admin_state = state
        self._collection_revision = -1
        self._collection = self.provisioner_collection

    @property
    def provisioner_collection(self) -> Collection:
        """The provisioners now: ca.json's, or the database's at the admin revision last
        read (rebuilt when it moves, with the authority policy; a revision whose
        provisioners or policy would not load keeps the last that did, logged)."""
        if self._admin_state is None:
            return self._collection
        state = self._admin_state.current()
        if state.revision != self._collection_revision:
            try:
                self._collection = self.build_provisioners([p.details for p in state.provisioners])
                policy = self.config.authority.policy if state.authority_policy is None else state.authority_policy
                self.policy = NamePolicy.from_config(policy, "authority policy")
                if self.ssh is not None:
                    self.ssh.policy = SshPolicy.from_config(policy, "authority policy")
            except BadRequest as err:
                log.error("admin revision %d: its provisioners do not load (%s); serving the last that did",
                          state.revision, err.message)
            self._collection_revision = state.revision
        return self._collection

    @property
    def admin_state(self) -> AdminStateCache | None:
        """The database's provisioners and admins (``enableAdmin``), else None."""
        return self._admin_state

    @property
    def key_manager(self) -> KeyManager | None:
        """The KMS the intermediate's key was opened from (None when a signer was given)."""
        return self._key_manager

    def close(self) -> None:
        if self._ssh_signers is not None:
            self._ssh_signers.close()
        if self._key_manager is not None:
            self._key_manager.close()

    # -- issuance -------------------------------------------------------------------

    def _use_token(self, use: TokenUse, provisioner: str) -> None:
        if not self.database.use_token(use.token_id, provisioner, use.expires_at):
            events.token_replayed(provisioner)
            raise Unauthorized("token already used")

    def _issue(self, build: Callable[[], x509.Certificate], names: tuple[str, ...], provisioner: str,
               token: TokenUse | None = None, renews: str | None = None) -> IssuedCertificate:
        """Build (and verify) a certificate, record it (and mark ``token`` used in the
        same transaction: a replay or a failure leaves neither; for a renewal of serial
        ``renews``, check in that transaction that it is not revoked), return it with its chain."""
        attempts = SERIAL_ATTEMPTS
        while True:
            certificate = build()
            key = spki_sha256(certificate.public_key())
            record = CertificateRecord(
                serial=str(certificate.serial_number),
                subject=certificate.subject.rfc4514_string(),
                sans=names,
                not_before=certificate.not_valid_before_utc,
                not_after=certificate.not_valid_after_utc,
                provisioner=provisioner,
                pem=to_pem(certificate),
            )
            try:  # the key's block is checked in the transaction that records the certificate
                if renews is not None:
                    if not self.database.record_renewal(renews, record, key=key):
                        raise Unauthorized("the certificate has been revoked")
                elif token is None:
                    self.database.record_certificate(record, key=key)
                elif not self.database.use_token_and_record(token.token_id, provisioner, token.expires_at, record,
                                                            key=key):
                    events.token_replayed(provisioner)
                    raise Unauthorized("token already used")
            except KeyBlocked as exc:
                raise KeyCompromised(exc.message) from None
            except Conflict:
                attempts -= 1
                if not attempts:
                    raise
                continue
            return IssuedCertificate(certificate=certificate, chain=tuple(self._intermediates))

    def refused_names(self, provisioner: Provisioner, names: Names, common_name: str = "") -> dict[str, str]:
        """The names the authority's or the provisioner's policy refuses (a name must
        pass both, as in step-ca), each with the first reason."""
        refused: dict[str, str] = {}
        for policy in (self.policy, provisioner.policy):
            found = policy.refusals(dns=names.dns, ips=names.ips, emails=names.emails, uris=names.uris,
                                    common_name=common_name)
            for name, reason in found.items():
                refused.setdefault(name, reason)
        return refused

    def _check_policy(self, provisioner: Provisioner, common_name: str, names: Names) -> None:
        refused = self.refused_names(provisioner, names, common_name)
        if refused:
            raise NamesRefused(refused)

    def _profile(self, provisioner: Provisioner, csr: x509.CertificateSigningRequest,
                 public_key: CertificatePublicKeyTypes, common_name: str, names: Names,
                 validity: tuple[datetime.datetime, datetime.datetime],
                 claims: dict[str, Any] | None = None, user: dict[str, Any] | None = None,
                 authorization: x509.Certificate | NebulaCertificate | None = None,
                 attestation: dict[str, Any] | None = None,
                 webhooks: dict[str, Any] | None = None) -> CertificateProfile:
        """The provisioner's template (step-ca's default leaf template unless configured)
        rendered for this request, between its ENRICHING and AUTHORIZING webhooks; the
        policies apply to the names it certifies. ``attestation``: ``appliance.authority.attested``."""
        options = provisioner.x509_options if attestation is None else attested_options(provisioner.x509_options)
        data: dict[str, Any] = {}
        rendered = None
        if attestation is None and not provisioner.webhooks:  # the default template reads neither
            rendered = default_leaf_profile(options, common_name=common_name, names=names, csr=csr,
                                            public_key=public_key)
        if rendered is None:
            data = template_data(options, common_name=common_name, names=names, csr=csr,
                                 claims=claims, user=user, webhooks=webhooks, authorization=authorization)
            if attestation is not None:
                add_attestation(data, attestation)
            enrich(self.webhook_client, provisioner, csr, data)
            rendered = render_profile(options, data, public_key)
        profile = with_default_subject(rendered, self.config.authority.default_subject)
        if provisioner.allow_must_staple:
            profile = with_must_staple(profile, csr)
        self._check_policy(provisioner, profile.common_name, profile.names)
        authorize(self.webhook_client, provisioner, profile.description, public_key, *validity, data)
        return profile

    def _issue_profile(self, profile: CertificateProfile, provisioner: Provisioner, public_key: CertificatePublicKeyTypes,
                       not_before: datetime.datetime, not_after: datetime.datetime,
                       token: TokenUse | None = None) -> IssuedCertificate:
        extension = provisioner.extension.to_extension()
        if any(item.oid == extension.oid for item in profile.extensions):
            raise BadRequest("certificate template: the provisioner extension is the CA's to set")
        extensions = list(profile.extensions)
        if not provisioner.claimer.disable_smallstep_extensions:
            extensions.append(x509.Extension(extension.oid, False, extension))
        extensions += url_extensions(self.revocation_urls, profile.extensions)
        linter = self._provisioner_linters.get(provisioner.lint_mode or "")
        return self._issue(
            lambda: self.leaf_signer.new_from_profile(subject=profile.subject, extensions=extensions,
                                                      public_key=public_key, not_before=not_before,
                                                      not_after=not_after, linter=linter),
            profile.names.as_strings(), provisioner.name, token,
        )

    @events.issuance("sign")
    def sign(self, request: SignRequest) -> IssuedCertificate:
        public_key = csr_public_key(request.csr)
        token = UnverifiedToken.parse(request.token, allow_special=True)  # HS256, XEdDSA: checked by their provisioner
        provisioner = self.provisioner_collection.for_token(token)
        events.note_provisioner(provisioner.name)
        options = provisioner.authorize_sign(token)
        return self._sign_authorized(request, public_key, options, options.token)

    @events.issuance("identity")
    def sign_identity(self, request: SignRequest) -> IssuedCertificate:
        """The X.509 identity certificate for an ``/ssh/sign`` request's ``identityCSR``
        (step-ca's ``SignIdentityMethod``): authorised by the SSH token again without
        spending it, for exactly ``request``'s not_before/not_after (the SSH certificate's)."""
        public_key = csr_public_key(request.csr)
        token = UnverifiedToken.parse(request.token, allow_special=True)
        provisioner = self.provisioner_collection.for_token(token)
        events.note_provisioner(provisioner.name)
        return self._sign_authorized(request, public_key, provisioner.authorize_identity(token), None,
                                     identity=True)

    def _sign_authorized(self, request: SignRequest, public_key: CertificatePublicKeyTypes, options: SignOptions,
                         token: TokenUse | None, *, identity: bool = False) -> IssuedCertificate:
        provisioner = options.provisioner
        if options.any_name:
            names, common_name = csr_names(request.csr), options.subject or csr_common_name(request.csr)
        else:
            names = authorised_names(request.csr, options.subject, options.names, identity=identity)
            common_name = options.subject
        self._check_policy(provisioner, common_name, names)
        not_before, not_after = validity(self._now(), self.config.authority.backdate, provisioner.claimer,
                                         request.not_before, request.not_after, options.not_after_limit)
        profile = self._profile(provisioner, request.csr, public_key, common_name, names, (not_before, not_after),
                                claims=options.claims, user=request.template_data,
                                authorization=options.authorization_certificate)
        return self._issue_profile(profile, provisioner, public_key, not_before, not_after, token)

    @events.issuance("acme")
    def sign_for_order(self, csr: x509.CertificateSigningRequest, provisioner: ACMEProvisioner, names: Names,
                       not_before: datetime.datetime | None = None,
                       not_after: datetime.datetime | None = None,
                       attestation: dict[str, Any] | None = None) -> IssuedCertificate:
        """The certificate of an ACME order whose challenges were met and whose CSR names are
        the order's: the policies and the provisioner's claims apply as for ``sign``; with the
        ``attestation`` of a device-attest-01 order, for its permanent identifier."""
        events.note_provisioner(provisioner.name)
        return self._sign_csr_names(csr, csr_public_key(csr), provisioner, names, provisioner.force_cn,
                                    not_before, not_after, attestation)

    def check_scep_challenge(self, provisioner: SCEPProvisioner, csr: x509.CertificateSigningRequest,
                             challenge: bytes | None, transaction_id: str) -> ScepChallengeVerdict:
        verdict = scep_challenge(self.webhook_client, provisioner, csr,
                                 None if challenge is None else challenge.decode("utf-8", "replace"), transaction_id)
        if verdict is not None:
            return verdict
        provisioner.check_challenge(challenge or b"")
        return ScepChallengeVerdict()

    @events.issuance("scep")
    def sign_for_scep(self, csr: x509.CertificateSigningRequest, provisioner: SCEPProvisioner,
                      webhooks: dict[str, Any] | None = None) -> IssuedCertificate:
        """The certificate of a SCEP request whose challenge was met: the CSR's names, the
        provisioner's key length, policies, claims and template (with ``.Webhooks``: the
        challenge webhooks' data)."""
        events.note_provisioner(provisioner.name)
        public_key = csr_public_key(csr)
        provisioner.check_public_key(public_key)
        return self._sign_csr_names(csr, public_key, provisioner, csr_names(csr), provisioner.force_cn,
                                    webhooks=webhooks)

    def scep_requester(self, certificate: x509.Certificate) -> None:
        try:
            self.leaf_signer.verify(certificate)
        except IssuanceFailed:
            raise Unauthorized("the request is not signed with a certificate this CA issued") from None
        if not certificate.not_valid_before_utc <= self._now() <= certificate.not_valid_after_utc:
            raise Unauthorized("the certificate that signs the request must be valid now")
        if self.database.get_revocation(str(certificate.serial_number)) is not None:
            raise Unauthorized("the certificate that signs the request is revoked")

    def issued_certificate(self, serial: int) -> x509.Certificate | None:
        record = self.database.get_certificate(str(serial))
        return None if record is None else x509.load_pem_x509_certificate(record.pem.encode())

    @events.issuance("scep")
    def renew_for_scep(self, certificate: x509.Certificate, csr: x509.CertificateSigningRequest,
                       provisioner: SCEPProvisioner) -> IssuedCertificate:
        """A SCEP RenewalReq, signed by ``certificate``: one this provisioner issued, still
        valid and not revoked, so no challenge; the CSR's names limited to its names."""
        if self._renewable(certificate).name != provisioner.name:
            raise Unauthorized(f"the certificate was not issued by SCEP provisioner '{provisioner.name}'")
        if not certificate.not_valid_before_utc <= self._now() <= certificate.not_valid_after_utc:
            raise Unauthorized("the certificate that signs a RenewalReq must be valid now")
        public_key = csr_public_key(csr)
        provisioner.check_public_key(public_key)
        try:
            san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            san = None
        common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        old_common_name = str(common_names[0].value) if common_names else ""
        names = authorised_names(csr, old_common_name, Names.from_san(san))
        return self._sign_csr_names(csr, public_key, provisioner, names, provisioner.force_cn)

    def notify_scep(self, provisioner: SCEPProvisioner, csr: x509.CertificateSigningRequest, transaction_id: str, *,
                    certificate: x509.Certificate | None = None, error: str = "") -> None:
        notify(self.webhook_client, provisioner, csr, certificate=certificate, transaction_id=transaction_id,
               error=error)

    def _sign_csr_names(self, csr: x509.CertificateSigningRequest, public_key: CertificatePublicKeyTypes,
                        provisioner: Provisioner, names: Names, force_cn: bool,
                        not_before: datetime.datetime | None = None,
                        not_after: datetime.datetime | None = None,
                        attestation: dict[str, Any] | None = None,
                        webhooks: dict[str, Any] | None = None) -> IssuedCertificate:
        common_name = csr_common_name(csr) or (names.as_strings()[0] if force_cn and names else "")
        self._check_policy(provisioner, common_name, names)
        start, end = validity(self._now(), self.config.authority.backdate, provisioner.claimer, not_before, not_after)
        profile = self._profile(provisioner, csr, public_key, common_name, names, (start, end),
                                attestation=attestation, webhooks=webhooks)
        return self._issue_profile(profile, provisioner, public_key, start, end)

    @events.issuance("est")
    def sign_authenticated(self, csr: x509.CertificateSigningRequest, provisioner: Provisioner,
                           public_key: CertificatePublicKeyTypes | None = None) -> IssuedCertificate:
        """The certificate for a CSR whose requester a protocol core authenticated for
        ``provisioner`` (EST): the CSR's names, policies, claims, template and webhooks; for
        ``public_key`` (a key the core generated) instead of the CSR's when given."""
        events.note_provisioner(provisioner.name)
        return self._sign_csr_names(csr, public_key or csr_public_key(csr), provisioner, csr_names(csr), False)

    def content_signer(self) -> tuple[PrivateKeyTypes, x509.Certificate]:
        """The issuing key (its KMS signer) and certificate, for CMS content the CA vouches for."""
        return self.leaf_signer.signer, self.leaf_signer.issuer

    @events.issuance("server")
    def issue_server_certificate(self, public_key: CertificatePublicKeyTypes,
                                 lifetime: datetime.timedelta = datetime.timedelta(hours=24)) -> IssuedCertificate:
        """The CA's own TLS certificate for its dnsNames, named ``commonName`` (default: the
        first of them); no token: the CA authorises itself."""
        names = Names.parse(list(self.config.dns_names))
        now = self._now()
        common_name = self.config.common_name or self.config.dns_names[0]
        return self._issue(
            lambda: self.leaf_signer.new_leaf(common_name=common_name, san=names.general_names(),
                                              public_key=public_key,
                                              not_before=now - self.config.authority.backdate,
                                              not_after=now + lifetime, extensions=[]),
            names.as_strings(), AUTHORITY_PROVISIONER,
        )

    # -- renewal ---------------------------------------------------------------------

    def _renewable(self, certificate: x509.Certificate) -> Provisioner:
        """Issued here, not revoked, and its provisioner allows renewal now. Name policies
        are not checked again: as in step-ca (``renewContext``), they apply at issuance."""
        try:
            self.leaf_signer.verify(certificate)
        except IssuanceFailed:
            raise Unauthorized("the certificate was not issued by this CA") from None
        if self.database.get_revocation(str(certificate.serial_number)) is not None:
            raise Unauthorized("the certificate has been revoked")
        provisioner = self._provisioner_of(certificate)
        events.note_provisioner(provisioner.name)
        provisioner.authorize_renew(certificate, self._now())
        return provisioner

    def _provisioner_of(self, certificate: x509.Certificate) -> Provisioner:
        """The provisioner that authorised ``certificate``: the one its database record names,
        else its provisioner extension (step-ca's ``LoadProvisionerByCertificate``), so that
        certificates issued with ``disableSmallstepExtensions`` renew too."""
        record = self.database.get_certificate(str(certificate.serial_number))
        if record is not None:
            try:
                return self.provisioner_collection.by_name(record.provisioner)
            except NotFound:
                pass
        return self.provisioner_collection.for_certificate(certificate)

    def _reissue(self, old: x509.Certificate, public_key: CertificatePublicKeyTypes,
                 provisioner: Provisioner) -> IssuedCertificate:
        duration = old.not_valid_after_utc - old.not_valid_before_utc
        not_before = self._now() - self.config.authority.backdate
        try:
            san = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            san = None
        return self._issue(
            lambda: self.leaf_signer.reissue(old, public_key, not_before, not_before + duration),
            Names.from_san(san).as_strings(), provisioner.name, renews=str(old.serial_number),
        )

    @events.issuance("renew")
    def renew(self, certificate: x509.Certificate) -> IssuedCertificate:
        provisioner = self._renewable(certificate)
        return self._reissue(certificate, certificate.public_key(), provisioner)

    @events.issuance("rekey")
    def rekey(self, certificate: x509.Certificate, csr: x509.CertificateSigningRequest) -> IssuedCertificate:
        public_key = csr_public_key(csr)
        return self._reissue(certificate, public_key, self._renewable(certificate))

    def authorize_renew_token(self, token: str) -> x509.Certificate:
        parsed = UnverifiedToken.parse(token)
        certificate, use = verify_renew_token(parsed, self.leaf_signer, self.audiences, self._now())
        if self.database.get_certificate(str(certificate.serial_number)) is None:
            raise Unauthorized("renew token certificate is not one this CA issued")
        provisioner = self._provisioner_of(certificate)
        self._use_token(use, provisioner.name)
        return certificate

    def authorize_admin_token(self, token: str, endpoint: str) -> AdminCredential:
        """Check an admin token for the request at ``endpoint`` (its path without the
        leading ``/``): a certificate this CA issued and did not revoke, signed by its key,
        in time, for this URL, issued by step's admin client or the certificate's
        provisioner, used once."""
        parsed = UnverifiedToken.parse(token)
        certificate, claims, use = verify_admin_token(parsed, endpoint, self.leaf_signer, self.audiences,
                                                      self._now())
        serial = str(certificate.serial_number)
        if self.database.get_certificate(serial) is None:
            raise Unauthorized("admin token certificate is not one this CA issued")
        if self.database.get_revocation(serial) is not None:
            raise Unauthorized("admin token certificate has been revoked")
        provisioner = self._provisioner_of(certificate)
        if claims.get("iss") not in (ADMIN_CLIENT_ISSUER, provisioner.name):
            raise Unauthorized("admin token issuer (iss) is neither step's admin client nor the provisioner")
        self._use_token(use, provisioner.name)
        return AdminCredential(certificate, provisioner.name, certificate_names(certificate))

    # -- revocation ------------------------------------------------------------------

    @events.revocation
    def revoke(self, request: RevokeRequest) -> None:
        serial = parse_serial(request.serial)
        if request.reason_code not in REASON_CODES:
            raise BadRequest(f"reasonCode {request.reason_code} is not an RFC 5280 reason code")
        if not request.passive and not (self.config.ocsp.enabled or self.config.crl.enabled):
            raise BadRequest("active revocation (passive: false) needs ocsp.enabled or crl.enabled in ca.json: "
                             "revoke passively")
        if request.token:
            token = UnverifiedToken.parse(request.token, allow_special=True)
            provisioner = self.provisioner_collection.for_token(token)
            events.note_provisioner(provisioner.name)
            authorization = provisioner.authorize_revoke(token)
            if not authorization.any_serial and parse_serial(authorization.serial) != serial:
                raise Unauthorized("token subject (sub) is not the serial being revoked")
            self._use_token(authorization.token, provisioner.name)
            name, mtls = provisioner.name, False
        elif request.client_certificate is not None:
            certificate = request.client_certificate
            if str(certificate.serial_number) != serial:
                raise Unauthorized("the client certificate's serial is not the serial being revoked")
            try:
                self.leaf_signer.verify(certificate)
            except IssuanceFailed:
                raise Unauthorized("the client certificate was not issued by this CA") from None
            record = self.database.get_certificate(serial)
            extension = ProvisionerExtension.from_certificate(certificate)
            name = record.provisioner if record else extension.name if extension else AUTHORITY_PROVISIONER
            mtls = True
        else:
            raise Unauthorized("revocation needs a token or a client certificate")
        self._record_revocation(serial, request.reason_code, request.reason, name, mtls=mtls, passive=request.passive)

    @events.revocation
    def revoke_authorized(self, serial: str, reason_code: int, reason: str, provisioner: str) -> None:
        events.note_provisioner(provisioner)
        if reason_code not in REASON_CODES:
            raise BadRequest(f"reasonCode {reason_code} is not an RFC 5280 reason code")
        self._record_revocation(parse_serial(serial), reason_code, reason, provisioner, mtls=False)

    def _record_revocation(self, serial: str, reason_code: int, reason: str, provisioner: str, *, mtls: bool,
                           passive: bool = True) -> None:
        """Record a revocation (``Conflict`` if already revoked): renewals stop at once, and
        the next CRL and OCSP response list it, passive or active alike."""
        self.database.revoke(RevocationRecord(
            serial=serial, reason_code=reason_code, reason=reason,
            revoked_at=self._now(), provisioner=provisioner, passive=passive, mtls=mtls,
        ), block_key=self._compromised_key(serial) if reason_code == KEY_COMPROMISE else "")
        events.revoked(provisioner)

    def _compromised_key(self, serial: str) -> str:
        """The SPKI hash of the recorded certificate ``serial`` ("" if it is not ours)."""
        record = self.database.get_certificate(serial)
        if record is None:
            return ""
        return spki_sha256(x509.load_pem_x509_certificate(record.pem.encode()).public_key())

    def is_revoked(self, serial: str) -> bool:
        return self.database.get_revocation(parse_serial(serial)) is not None

    def crl(self) -> bytes:
        return self._crl.current()

    def root_crl(self) -> bytes | None:
        return self._root_crl.current() if self._root_crl else None

    def ocsp(self, request_der: bytes) -> bytes:
        return self._ocsp.respond(request_der)

    # -- discovery -------------------------------------------------------------------

    def roots(self) -> list[x509.Certificate]:
        return list(self._roots)

    def intermediates(self) -> list[x509.Certificate]:
        return list(self._intermediates)

    def federated_roots(self) -> list[x509.Certificate]:
        return self._roots + self._federated

    def provisioners(self, cursor: str = "", limit: int = 20) -> tuple[list[dict[str, Any]], str]:
        return self.provisioner_collection.page(cursor, limit)

    def encrypted_key(self, kid: str) -> str:
        return self.provisioner_collection.encrypted_key(kid)

    def provisioner(self, name: str) -> Provisioner:
        return self.provisioner_collection.by_name(name)
