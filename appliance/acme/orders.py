"""Orders, authorizations and challenges (RFC 8555 sections 7.4, 7.5): create,
read with current statuses, respond to a challenge, deactivate, finalize."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from appliance import metrics
from appliance.acme import device_attest, scheduling
from appliance.acme.attestation.statement import key_fingerprint
from appliance.acme.context import AcmeRequest, Core, Reply, Settling, Signed, parse_rfc3339
from appliance.acme.identifiers import PERMANENT_IDENTIFIER, compound, parse_identifiers
from appliance.acme.models import (Account, Authorization, Challenge, ChallengeType, Identifier, IssuedCertificate,
                                   Order, Status, new_id)
from appliance.acme.problems import AcmeError, Problem, Subproblem
from appliance.acme.renewal import cert_id, check_replaces
from appliance.acme.views import authorization_json, authorization_status, challenge_json, order_json
from appliance.authority.interfaces import KeyCompromised
from appliance.pki.keys import verified_csr_key
from appliance.pki.pem import to_pem
from appliance.errors import ApplianceError, BadRequest, ErrorKind
from appliance.jose.b64 import b64decode
from appliance.policy import NamePolicy, NamesRefused
from appliance.provisioner import Names
from appliance.provisioner.acme import ACMEProvisioner

FAILED = frozenset({Status.INVALID, Status.DEACTIVATED, Status.EXPIRED, Status.REVOKED})
OPEN = frozenset({Status.PENDING, Status.READY})
DNS_CHALLENGES = frozenset({ChallengeType.DNS_01, ChallengeType.DNS_PERSIST_01})


def challenge_types(provisioner: ACMEProvisioner, identifier: Identifier, wildcard: bool) -> list[ChallengeType]:
    """Only the DNS challenges for wildcards, never for IP addresses (RFC 8738);
    device-attest-01 only (and only it) for permanent identifiers."""
    allowed = [ChallengeType(c) for c in provisioner.challenges]
    if identifier.type == PERMANENT_IDENTIFIER:
        return [c for c in allowed if c == ChallengeType.DEVICE_ATTEST_01]
    allowed = [c for c in allowed if c != ChallengeType.DEVICE_ATTEST_01]
    if wildcard:
        return [c for c in allowed if c in DNS_CHALLENGES]
    if identifier.type == "ip":
        return [c for c in allowed if c not in DNS_CHALLENGES]
    return allowed


def _public_key_der(key: object) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]


def csr_identifiers(csr: x509.CertificateSigningRequest) -> set[Identifier]:
    """The identifiers a CSR asks for: its DNS and IP SANs and its common name."""
    try:
        extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san = list(extension)
    except x509.ExtensionNotFound:
        san = []
    except (ValueError, x509.DuplicateExtension) as exc:
        raise AcmeError(Problem.BAD_CSR, f"malformed CSR extensions: {exc}") from None
    found: set[Identifier] = set()
    for name in san:
        if isinstance(name, x509.DNSName):
            found.add(Identifier("dns", name.value.lower().rstrip(".")))
        elif isinstance(name, x509.IPAddress):
            found.add(Identifier("ip", str(name.value)))
        else:
            raise AcmeError(Problem.BAD_CSR, f"the CSR asks for a {type(name).__name__}, which orders cannot authorize")
    for attribute in csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        value = str(attribute.value).lower().rstrip(".")
        try:
            found.add(Identifier("ip", str(ipaddress.ip_address(value))))
        except ValueError:
            found.add(Identifier("dns", value))
    return found


def order_provisioner(provisioner: ACMEProvisioner, profile: object) -> ACMEProvisioner:
    """The provisioner an order naming ``profile`` issues with (draft-ietf-acme-profiles):
    ``invalidProfile`` unless the provisioner lists it."""
    if profile is not None and not isinstance(profile, str):
        raise AcmeError(Problem.MALFORMED, "profile must be a string")
    try:
        return provisioner.with_profile(profile)
    except KeyError:
        offered = ", ".join(sorted(provisioner.profile_descriptions)) or "none"
        raise AcmeError(Problem.INVALID_PROFILE,
                        f"no profile named '{str(profile)[:64]}' (offered: {offered})") from None


def names_of(identifiers: tuple[Identifier, ...]) -> Names:
    """The DNS names and IP addresses among the identifiers (the ones name policies judge)."""
    return Names.parse([i.value for i in identifiers if i.type != PERMANENT_IDENTIFIER])


def account_refusals(core: Core, account: Account, identifiers: tuple[Identifier, ...]) -> dict[str, str]:
    """The names refused by the policy of the EAB key the account was bound with (step-ca's
    ACME account policy, set over the admin API)."""
    key = core.store.get_eab_key(account.provisioner, account.eab_key_id) if account.eab_key_id else None
    if key is None or not key.policy:
        return {}
    names = names_of(identifiers)
    return NamePolicy.from_config(key.policy, f"ACME account policy (EAB key {key.key_id})").refusals(
        dns=names.dns, ips=names.ips, emails=names.emails, uris=names.uris)


def rejections(identifiers: tuple[Identifier, ...], refused: dict[str, str]) -> list[Subproblem]:
    """One ``rejectedIdentifier`` subproblem per identifier a policy refuses."""
    return [Subproblem(Problem.REJECTED_IDENTIFIER, refused[i.value], i.to_json()) for i in identifiers
            if i.value in refused]


def _finalize_problem(order: Order, exc: ApplianceError) -> AcmeError:
    """The ACME problem for an authority's refusal at finalize."""
    if isinstance(exc, AcmeError):
        return exc
    if isinstance(exc, NamesRefused):
        problems = tuple(rejections(order.identifiers, exc.refused))
        return compound(problems) if problems else AcmeError(Problem.REJECTED_IDENTIFIER, exc.message)
    if isinstance(exc, KeyCompromised):
        return AcmeError(Problem.BAD_PUBLIC_KEY, exc.message)
    problem = _FINALIZE_PROBLEMS.get(exc.kind, Problem.SERVER_INTERNAL)
    return AcmeError(problem, exc.message, kind=exc.kind)


#: The problem an authority's refusal at finalize becomes, by kind (others: serverInternal).
_FINALIZE_PROBLEMS = {
    ErrorKind.BAD_REQUEST: Problem.BAD_CSR, ErrorKind.FORBIDDEN: Problem.BAD_CSR,
    ErrorKind.UNAUTHORIZED: Problem.UNAUTHORIZED, ErrorKind.NOT_IMPLEMENTED: Problem.BAD_CSR,
}


class Orders:
    def __init__(self, core: Core) -> None:
        self._core = core

    # -- reading ---------------------------------------------------------------------

    def _authorization(self, authorization_id: str, account: Account) -> Authorization:
        authz = self._core.store.get_authorization(authorization_id)
        if authz is None or authz.account_id != account.id:
            raise AcmeError(Problem.MALFORMED, "no such authorization", kind=ErrorKind.NOT_FOUND)
        return authz

    def _order(self, order_id: str, account: Account) -> Order:
        """The account's order with its status brought up to date (compare-and-set)."""
        store = self._core.store
        order = store.get_order(order_id)
        if order is None or order.account_id != account.id:
            raise AcmeError(Problem.MALFORMED, "no such order", kind=ErrorKind.NOT_FOUND)
        now = self._core.now()
        status = order.status
        if status in OPEN and order.expires <= now:
            status = Status.INVALID
        elif status == Status.PENDING:
            statuses = [authorization_status(self._authorization(a, account), now) for a in order.authorization_ids]
            if any(s in FAILED for s in statuses):
                status = Status.INVALID
            elif all(s == Status.VALID for s in statuses):
                status = Status.READY
        if status != order.status and not store.set_order_status(order.id, status, frozenset({order.status})):
            return self._order(order_id, account)
        return dataclasses.replace(order, status=status)

    def order(self, request: AcmeRequest, signed: Signed, order_id: str) -> Reply:
        order = self._order(order_id, signed.owner)
        return Reply(order_json(request, order), location=request.links.order(order.id),
                     retry_after=self._core.settings.retry_after if order.status == Status.PROCESSING else None)

    def orders(self, request: AcmeRequest, signed: Signed, account_id: str) -> Reply:
        if signed.owner.id != account_id:
            raise AcmeError(Problem.UNAUTHORIZED, "the orders URL is not the signer's account's")
        ids = self._core.store.account_orders(account_id)
        return Reply({"orders": [request.links.order(i) for i in ids]})

    # -- creation --------------------------------------------------------------------

    def new_order(self, request: AcmeRequest, signed: Signed) -> Reply:
        account, provisioner, core = signed.owner, request.provisioner, self._core
        fields = signed.fields()
        identifiers = parse_identifiers(fields.get("identifiers"))
        profile = fields.get("profile") or None
        order_provisioner(provisioner, profile)
        if len(identifiers) > 1 and any(i.type == PERMANENT_IDENTIFIER for i in identifiers):
            raise AcmeError(Problem.REJECTED_IDENTIFIER, "an order for a permanent identifier has no other identifiers")
        refused = {**account_refusals(core, account, identifiers),
                   **core.authority.refused_names(provisioner, names_of(identifiers))}
        problems = rejections(identifiers, refused)
        for identifier in identifiers:
            wildcard = identifier.value.startswith("*.")
            if identifier.value not in refused and not challenge_types(provisioner, identifier, wildcard):
                problems.append(Subproblem(Problem.REJECTED_IDENTIFIER,
                                           f"no enabled challenge can validate {identifier.value}", identifier.to_json()))
        if problems:
            raise compound(tuple(problems))
        replaces = fields.get("replaces")
        if replaces is not None:
            check_replaces(core.store, account, replaces)
        now = core.now()
        authorizations = [self._new_authorization(provisioner, account, i, now) for i in identifiers]
        order = Order(
            id=new_id(), account_id=account.id, provisioner=provisioner.name, status=Status.PENDING,
            expires=now + core.settings.order_lifetime, identifiers=identifiers,
            authorization_ids=tuple(a.id for a in authorizations), created_at=now,
            not_before=parse_rfc3339(fields.get("notBefore"), "notBefore"),
            not_after=parse_rfc3339(fields.get("notAfter"), "notAfter"), replaces=replaces, profile=profile,
        )
        core.store.create_order(order, authorizations)
        metrics.acme_orders.labels(provisioner.name, "created").inc()
        return Reply(order_json(request, order), location=request.links.order(order.id), created=True)

    def _new_authorization(self, provisioner: ACMEProvisioner, account: Account, identifier: Identifier,
                           now: datetime.datetime) -> Authorization:
        wildcard = identifier.value.startswith("*.")
        authz_id = new_id()
        challenges = tuple(
            Challenge(id=new_id(), authorization_id=authz_id, type=kind, status=Status.PENDING,
                      token="" if kind == ChallengeType.DNS_PERSIST_01 else secrets.token_urlsafe(32))
            for kind in challenge_types(provisioner, identifier, wildcard))
        return Authorization(
            id=authz_id, account_id=account.id,
            identifier=Identifier("dns", identifier.value[2:]) if wildcard else identifier, wildcard=wildcard,
            status=Status.PENDING, expires=now + self._core.settings.authorization_lifetime,
            challenges=challenges)

    # -- authorizations and challenges -------------------------------------------------

    def _current(self, request: AcmeRequest, account: Account, authorization_id: str) -> Authorization:
        """The account's authorization, once its stale validations (if any) are started again."""
        authz = self._authorization(authorization_id, account)
        if scheduling.resume(self._core, request.provisioner, account, authz, request.links.account(account.id)):
            authz = self._authorization(authorization_id, account)
        return authz

    def authorization(self, request: AcmeRequest, signed: Signed, authorization_id: str) -> Reply:
        """POST-as-GET, or ``{"status": "deactivated"}``."""
        authz = self._current(request, signed.owner, authorization_id)
        status = signed.fields().get("status")
        if status is not None:
            if status != Status.DEACTIVATED.value:
                raise AcmeError(Problem.MALFORMED, "an authorization's status can only be set to deactivated")
            if not self._core.store.set_authorization_status(authz.id, Status.DEACTIVATED,
                                                             frozenset({Status.PENDING, Status.VALID})):
                raise AcmeError(Problem.MALFORMED, f"the authorization is {authz.status.value}")
            authz = self._authorization(authorization_id, signed.owner)
        processing = any(c.status == Status.PROCESSING for c in authz.challenges)
        return Reply(authorization_json(request, authz, self._core.now()),
                     location=request.links.authorization(authz.id),
                     retry_after=self._core.settings.retry_after if processing else None)

    def challenge(self, request: AcmeRequest, signed: Signed, authorization_id: str, challenge_id: str) -> Reply:
        """POST-as-GET, or ``{}`` to ask for validation: started once, off the request
        path; the reply waits a little for the first attempt (``challenge_wait``)."""
        account, core = signed.owner, self._core
        authz = self._current(request, account, authorization_id)
        challenge = next((c for c in authz.challenges if c.id == challenge_id), None)
        if challenge is None:
            raise AcmeError(Problem.MALFORMED, "no such challenge", kind=ErrorKind.NOT_FOUND)
        if signed.payload is None or challenge.status != Status.PENDING:
            return self._challenge_reply(request, challenge)
        if authorization_status(authz, core.now()) != Status.PENDING:
            raise AcmeError(Problem.MALFORMED, f"the authorization is {authorization_status(authz, core.now()).value}")
        if challenge.type == ChallengeType.DEVICE_ATTEST_01:
            device_attest.respond(core, request.provisioner, account, authz, challenge, signed.fields())
            return self._challenge_reply(request, core.store.get_challenge(challenge.id) or challenge)
        first_attempt = scheduling.start(core, request.provisioner, account, authz, challenge,
                                         request.links.account(account.id))

        def current() -> Reply:
            return self._challenge_reply(request, core.store.get_challenge(challenge.id) or challenge)

        if first_attempt is None:  # another request claimed it meanwhile
            return current()
        return self._challenge_reply(request, dataclasses.replace(challenge, status=Status.PROCESSING),
                                     Settling(first_attempt, core.settings.challenge_wait, current))

    def _challenge_reply(self, request: AcmeRequest, challenge: Challenge, settle: Settling | None = None) -> Reply:
        return Reply(challenge_json(request, challenge),
                     location=request.links.challenge(challenge.authorization_id, challenge.id),
                     up=request.links.authorization(challenge.authorization_id),
                     retry_after=self._core.settings.retry_after if challenge.status == Status.PROCESSING else None,
                     settle=settle)

    # -- finalize --------------------------------------------------------------------

    def finalize(self, request: AcmeRequest, signed: Signed, order_id: str) -> Reply:
        account, core = signed.owner, self._core
        order = self._order(order_id, account)
        if order.status != Status.READY:
            raise AcmeError(Problem.ORDER_NOT_READY, f"the order is {order.status.value}, not ready")
        attestation = self._attestation(order, account)
        csr = self._csr(signed, order, attestation)
        provisioner = order_provisioner(request.provisioner, order.profile)
        if not core.store.set_order_status(order.id, Status.PROCESSING, frozenset({Status.READY})):
            raise AcmeError(Problem.ORDER_NOT_READY, "the order is being finalized already")
        try:
            issued = core.authority.sign_for_order(csr, provisioner, names_of(order.identifiers),
                                                   order.not_before, order.not_after, attestation=attestation)
        except ApplianceError as exc:
            error = _finalize_problem(order, exc)
            if exc.kind is ErrorKind.UNAVAILABLE:  # the key's device is away: the client may finalize again
                core.store.set_order_status(order.id, Status.READY, frozenset({Status.PROCESSING}))
                raise error from None
            core.store.set_order_status(order.id, Status.INVALID, frozenset({Status.PROCESSING}), error=error.to_json())
            metrics.acme_orders.labels(order.provisioner, "invalid").inc()
            raise error from None
        certificate = IssuedCertificate(
            id=new_id(), account_id=account.id, order_id=order.id, serial=str(issued.certificate.serial_number),
            cert_id=cert_id(issued.certificate),
            chain_pem="".join(to_pem(c) for c in (issued.certificate, *issued.chain)),
            not_before=issued.certificate.not_valid_before_utc, not_after=issued.certificate.not_valid_after_utc)
        core.store.record_certificate(certificate)
        core.store.set_order_status(order.id, Status.VALID, frozenset({Status.PROCESSING}), certificate_id=certificate.id)
        metrics.acme_orders.labels(order.provisioner, "valid").inc()
        if order.replaces is not None:
            core.store.mark_replaced(order.replaces, order.id)
        return self.order(request, signed, order.id)

    def _attestation(self, order: Order, account: Account) -> dict[str, Any] | None:
        """What the order's device-attest-01 authorization proved (None for other orders)."""
        for authorization_id in order.authorization_ids:
            attestation = self._authorization(authorization_id, account).attestation
            if attestation is not None:
                return attestation
        return None

    def _csr(self, signed: Signed, order: Order, attestation: dict[str, Any] | None) -> x509.CertificateSigningRequest:
        """The finalize CSR, if it asks for exactly the order's identifiers with a key that is not the
        account's; for an attested order, the attested key, named by the permanent identifier (if at all)."""
        value = signed.fields().get("csr")
        try:
            csr = x509.load_der_x509_csr(b64decode(value)) if isinstance(value, str) else None
        except ValueError:
            csr = None
        if csr is None:
            raise AcmeError(Problem.BAD_CSR, "csr must be a base64url DER certificate request")
        try:
            public_key = verified_csr_key(csr)
        except BadRequest as exc:
            raise AcmeError(Problem.BAD_CSR, exc.message) from None
        if _public_key_der(public_key) == _public_key_der(signed.key.get_op_key("verify")):
            raise AcmeError(Problem.BAD_CSR, "the CSR key must not be the account key")
        if any(i.type == PERMANENT_IDENTIFIER for i in order.identifiers):
            return _attested_csr(csr, order, attestation, public_key)
        wanted = set(order.identifiers)
        asked = csr_identifiers(csr)
        if asked != wanted:
            extra = sorted(i.value for i in asked - wanted)
            missing = sorted(i.value for i in wanted - asked)
            raise AcmeError(Problem.BAD_CSR, "the CSR names must be the order's identifiers"
                            + (f"; not in the order: {', '.join(extra)}" if extra else "")
                            + (f"; missing: {', '.join(missing)}" if missing else ""))
        return csr


def _attested_csr(csr: x509.CertificateSigningRequest, order: Order, attestation: dict[str, Any] | None,
                  public_key: object) -> x509.CertificateSigningRequest:
    """As step-ca: the CSR's common name, if any, is the permanent identifier (its SANs are not
    certified: the template decides), and its key is the attested key."""
    identifier = next(i.value for i in order.identifiers if i.type == PERMANENT_IDENTIFIER)
    common_names = [str(a.value) for a in csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    if common_names and common_names != [identifier]:
        raise AcmeError(Problem.BAD_CSR, f"the CSR's common name must be the permanent identifier {identifier!r}")
    if attestation is None or not secrets.compare_digest(str(attestation.get("fingerprint", "")),
                                                         key_fingerprint(public_key)):  # type: ignore[arg-type]
        raise AcmeError(Problem.BAD_CSR, "the CSR's key is not the attested key")
    return csr
