"""The SCEP operations of RFC 8894 for every SCEP provisioner: GetCACaps, GetCACert and
PKIOperation (PKCSReq, RenewalReq, GetCertInitial, GetCert, GetCRL). Transport-free:
``appliance.api.scep`` serves it over HTTP.

A challenge that a SCEPCHALLENGE webhook cannot decide yet (it answers ``"pending": true``)
is answered PENDING and its CSR kept; each GetCertInitial (or re-sent PKCSReq) of that
transaction asks the webhooks again, without the challenge password, which is never stored:
the first poll to take the transaction issues it (SUCCESS, once) or records the denial
(FAILURE for every later poll)."""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import AttributeOID

from appliance.authority.interfaces import AuthorityInterface, IssuedCertificate
from appliance.errors import ApplianceError, BadRequest, ErrorKind, NotFound, NotImplementedFeature
from appliance.pki.clock import utc_now
from appliance.provisioner.scep import DecrypterSettings, SCEPProvisioner
from appliance.scep.envelope import degenerate_crl, open_envelope, seal_envelope
from appliance.scep.errors import Addressee, FailInfo, ScepFailure
from appliance.scep.keys import CaSigner, ScepKeys, open_scep_keys
from appliance.scep.store import DENIED, PENDING, ScepTransaction, SQLScepStore, TransactionKey
from appliance.scep.messages import NONCE_BYTES, MessageType, PkiMessage, PkiStatus, cert_rep, parse_pki_message

log = logging.getLogger(__name__)

CA_CERT_TYPE = "application/x-x509-ca-cert"
CA_RA_CERT_TYPE = "application/x-x509-ca-ra-cert"
PKI_MESSAGE_TYPE = "application/x-pki-message"
#: Errors of the authority that refuse this request (answered FAILURE badRequest); the
#: others (a KMS or webhook that is down) are not the client's fault and stay errors.
REFUSALS = (ErrorKind.BAD_REQUEST, ErrorKind.UNAUTHORIZED, ErrorKind.FORBIDDEN, ErrorKind.CONFLICT)
T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    """How a CertRep answers: the provisioner's keys, the request it answers, the content encryption."""

    keys: ScepKeys
    addressee: Addressee
    algorithm: str


@dataclass(frozen=True)
class CaCertificates:
    """A GetCACert answer: DER and its media type."""

    body: bytes
    media_type: str


class ScepServer:
    """One per process generation; the decrypters are opened once, at start, and for a
    SCEP provisioner added or changed later (remote management) on its first request.
    A replaced decrypter stays open until ``close`` (a request may still be using it)."""

    def __init__(self, authority: AuthorityInterface, ca: CaSigner, provisioners: list[SCEPProvisioner],
                 store: SQLScepStore, *,
                 now: Callable[[], datetime.datetime] = utc_now,
                 nonce: Callable[[int], bytes] = os.urandom) -> None:
        self._authority = authority
        self._store = store
        self._ca = ca
        self._now = now
        self._nonce = nonce
        self._keys: dict[str, tuple[DecrypterSettings, ScepKeys]] = {}
        self._replaced: list[ScepKeys] = []
        self._lock = threading.Lock()
        try:
            for provisioner in provisioners:
                self._keys[provisioner.name] = (provisioner.decrypter, open_scep_keys(provisioner, ca))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for _, keys in self._keys.values():
            keys.close()
        for keys in self._replaced:
            keys.close()

    def _provisioner(self, name: str) -> tuple[SCEPProvisioner, ScepKeys]:
        provisioner = self._authority.provisioner(name)
        if not isinstance(provisioner, SCEPProvisioner):
            raise NotFound(f"no SCEP provisioner '{name}'")
        with self._lock:
            opened = self._keys.get(name)
            if opened is None or opened[0] != provisioner.decrypter:
                self._keys[name] = (provisioner.decrypter, open_scep_keys(provisioner, self._ca))
                if opened is not None:
                    self._replaced.append(opened[1])
            return provisioner, self._keys[name][1]

    def capabilities(self, name: str) -> str:
        """GetCACaps: one capability a line."""
        provisioner, _ = self._provisioner(name)
        return "\n".join(provisioner.capabilities)

    def ca_certificates(self, name: str) -> CaCertificates:
        """GetCACert: the decrypter's certificate (the intermediate, unless one is configured),
        the intermediate unless ``excludeIntermediate``, the root with ``includeRoot``."""
        provisioner, keys = self._provisioner(name)
        certificates = [keys.decrypter_certificate]
        intermediate = self._ca.certificate
        if not provisioner.exclude_intermediate and intermediate != keys.decrypter_certificate:
            certificates.append(intermediate)
        if provisioner.include_root:
            certificates.extend(self._authority.roots()[:1])
        if len(certificates) == 1:
            return CaCertificates(certificates[0].public_bytes(Encoding.DER), CA_CERT_TYPE)
        return CaCertificates(pkcs7.serialize_certificates(certificates, Encoding.DER), CA_RA_CERT_TYPE)

    def pki_operation(self, name: str, message: bytes) -> bytes:
        """A CertRep (DER) answering ``message``; ``BadRequest`` when none can be addressed."""
        provisioner, keys = self._provisioner(name)
        try:
            request = parse_pki_message(message)
        except ScepFailure as failure:
            if failure.addressee is None:
                raise BadRequest(failure.message) from None
            return self._failure(failure.addressee, failure, provisioner)
        addressee = Addressee(request.transaction_id, request.sender_nonce, request.signer, request.digest)
        try:
            opened = open_envelope(request.envelope, keys.decrypter_certificate, keys.decrypter)
            reply = Reply(keys, addressee, provisioner.response_encryption or opened.algorithm)
            if request.message_type in (MessageType.PKCS_REQ, MessageType.RENEWAL_REQ):
                return self._enrol(provisioner, request, opened.content, reply)
            if request.message_type is MessageType.CERT_POLL:
                return self._poll(provisioner, request, reply)
            if request.message_type in (MessageType.GET_CERT, MessageType.GET_CRL):
                return self._get(request, opened.content, reply)
            raise ScepFailure(FailInfo.BAD_REQUEST, f"messageType {request.message_type.name} is not served")
        except ScepFailure as failure:
            return self._failure(addressee, failure, provisioner)

    def _enrol(self, provisioner: SCEPProvisioner, request: PkiMessage, content: bytes, reply: Reply) -> bytes:
        """PKCSReq and RenewalReq: the transaction is claimed before anything is issued, so
        a replay (the same request again) is answered with the certificate issued once; a
        replay of a pending transaction polls it."""
        csr = _csr(content)
        request_sha256 = hashlib.sha256(content).hexdigest()
        renews = str(request.signer.serial_number) if request.message_type is MessageType.RENEWAL_REQ else ""
        key = TransactionKey(provisioner.name, request.transaction_id, renews)
        known = self._store.claim(key, request_sha256, self._now())
        if known is not None:
            if known.request_sha256 != request_sha256:
                raise ScepFailure(FailInfo.BAD_REQUEST,
                                  f"transaction {request.transaction_id} was opened with another request")
            log.info("SCEP provisioner '%s' answers replayed transaction %s", provisioner.name,
                     request.transaction_id)
            return self._answer(provisioner, key, known, reply)
        attempt: Callable[[], IssuedCertificate | None]
        if request.message_type is MessageType.RENEWAL_REQ:
            attempt = functools.partial(_refusing, self._authority.renew_for_scep, request.signer, csr, provisioner)
        else:
            attempt = functools.partial(self._challenged, provisioner, csr, _challenge(csr), key.transaction_id)
        return self._settle(provisioner, key, csr, attempt, reply, refused=self._store.release,
                            failed=self._store.release)

    def _challenged(self, provisioner: SCEPProvisioner, csr: x509.CertificateSigningRequest, challenge: bytes | None,
                    transaction_id: str) -> IssuedCertificate | None:
        """Issue if the challenge is accepted; None if its verdict is deferred."""
        verdict = _refusing(self._authority.check_scep_challenge, provisioner, csr, challenge, transaction_id)
        if verdict.pending:
            return None
        return _refusing(self._authority.sign_for_scep, csr, provisioner, verdict.webhooks)

    def _settle(self, provisioner: SCEPProvisioner, key: TransactionKey, csr: x509.CertificateSigningRequest,
                attempt: Callable[[], IssuedCertificate | None], reply: Reply, *,
                refused: Callable[[TransactionKey], None], failed: Callable[[TransactionKey], None]) -> bytes:
        """Run ``attempt`` for a transaction this request holds: record and answer its
        certificate (SUCCESS), or PENDING when it was deferred; on a refusal ``refused`` and on
        any other error ``failed`` undo the hold. NOTIFYING webhooks hear of the outcome."""
        try:
            issued = attempt()
        except ScepFailure as refusal:
            refused(key)
            self._authority.notify_scep(provisioner, csr, key.transaction_id, error=refusal.message)
            raise
        except BaseException:
            failed(key)
            raise
        if issued is None:
            self._store.defer(key, csr)
            log.info("SCEP provisioner '%s' deferred transaction %s: its challenge is pending", provisioner.name,
                     key.transaction_id)
            return self._status(PkiStatus.PENDING, reply)
        self._store.complete(key, issued.certificate)
        self._authority.notify_scep(provisioner, csr, key.transaction_id, certificate=issued.certificate)
        log.info("SCEP provisioner '%s' issued serial %s (transaction %s)", provisioner.name,
                 issued.certificate.serial_number, key.transaction_id)
        return self._success(pkcs7.serialize_certificates([issued.certificate], Encoding.DER), reply)

    def _poll(self, provisioner: SCEPProvisioner, request: PkiMessage, reply: Reply) -> bytes:
        """GetCertInitial: the state of a known transaction (deciding a pending one); an
        unknown one is ``badCertId``."""
        known = self._store.latest(provisioner.name, request.transaction_id)
        if known is None:
            raise ScepFailure(FailInfo.BAD_CERT_ID, f"no transaction {request.transaction_id}")
        return self._answer(provisioner, TransactionKey(provisioner.name, request.transaction_id, known.renews),
                            known, reply)

    def _answer(self, provisioner: SCEPProvisioner, key: TransactionKey, known: ScepTransaction,
                reply: Reply) -> bytes:
        """A known transaction: its certificate, FAILURE once denied, else PENDING. A pending
        one is decided by the one poller that takes it: its challenge webhooks are asked again."""
        if known.certificate is not None:
            return self._success(pkcs7.serialize_certificates([known.certificate], Encoding.DER), reply)
        if known.state == DENIED:
            raise ScepFailure(FailInfo.BAD_REQUEST, f"transaction {key.transaction_id} was denied")
        if known.state == PENDING and known.csr is not None and self._store.take_pending(key):
            csr = known.csr
            attempt = functools.partial(self._challenged, provisioner, csr, None, key.transaction_id)
            return self._settle(provisioner, key, csr, attempt, reply, refused=self._store.deny,
                                failed=lambda taken: self._store.defer(taken, csr))
        return self._status(PkiStatus.PENDING, reply)

    def _get(self, request: PkiMessage, content: bytes, reply: Reply) -> bytes:
        """GetCert (the certificate of an issuer and serial number, ``badCertId`` when unknown)
        and GetCRL (the CA's current CRL), for the holder of a certificate this CA issued."""
        _refusing(self._authority.scep_requester, request.signer)
        try:
            wanted = cms.IssuerAndSerialNumber.load(content)
            issuer, serial = wanted["issuer"], wanted["serial_number"].native
        except (ValueError, TypeError, KeyError):
            raise ScepFailure(FailInfo.BAD_REQUEST, "the content must be an IssuerAndSerialNumber") from None
        if issuer != asn1_x509.Name.load(self._ca.certificate.subject.public_bytes()):
            raise ScepFailure(FailInfo.BAD_CERT_ID, "the issuer is not this CA")
        if request.message_type is MessageType.GET_CRL:
            try:
                return self._success(degenerate_crl(self._authority.crl()), reply)
            except NotImplementedFeature as exc:
                raise ScepFailure(FailInfo.BAD_REQUEST, exc.message) from None
        certificate = self._authority.issued_certificate(serial)
        if certificate is None:
            raise ScepFailure(FailInfo.BAD_CERT_ID, f"this CA issued no certificate with serial {serial}")
        return self._success(pkcs7.serialize_certificates([certificate], Encoding.DER), reply)

    def _status(self, status: PkiStatus, reply: Reply) -> bytes:
        signer, certificate, chain = self._reply_signer(reply.keys)
        return cert_rep(reply.addressee, status, signer, certificate, chain=chain,
                        now=self._now(), nonce=self._nonce(NONCE_BYTES))

    def _success(self, degenerate: bytes, reply: Reply) -> bytes:
        """SUCCESS: ``degenerate`` (a SignedData of certificates or a CRL), encrypted to the request's signer."""
        envelope = seal_envelope(degenerate, reply.addressee.signer, reply.algorithm)
        signer, certificate, chain = self._reply_signer(reply.keys)
        return cert_rep(reply.addressee, PkiStatus.SUCCESS, signer, certificate, chain=chain,
                        envelope=envelope, now=self._now(), nonce=self._nonce(NONCE_BYTES))

    def _reply_signer(self, keys: ScepKeys) -> tuple[PrivateKeyTypes, x509.Certificate, tuple[x509.Certificate, ...]]:
        """Who signs CertReps: a configured decrypter (the RA certificate, as step-ca does and
        as clients that verify against the GetCACert certificates expect), else the CA."""
        if keys.decrypter_certificate != self._ca.certificate:
            return keys.decrypter, keys.decrypter_certificate, (self._ca.certificate,)
        return self._ca.signer, self._ca.certificate, ()

    def _failure(self, addressee: Addressee, failure: ScepFailure, provisioner: SCEPProvisioner) -> bytes:
        log.warning("SCEP provisioner '%s' refused transaction %s: %s (failInfo %s)", provisioner.name,
                    addressee.transaction_id, failure.message, failure.fail_info.name)
        signer, certificate, chain = self._reply_signer(self._keys[provisioner.name][1])
        return cert_rep(addressee, PkiStatus.FAILURE, signer, certificate, chain=chain,
                        fail_info=failure.fail_info, now=self._now(), nonce=self._nonce(NONCE_BYTES))


def _refusing(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``, its refusals (not its outages) as a FAILURE ``badRequest``."""
    try:
        return call(*args)
    except ApplianceError as exc:
        if exc.kind not in REFUSALS:
            raise
        raise ScepFailure(FailInfo.BAD_REQUEST, exc.message) from None


def _csr(der: bytes) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_der_x509_csr(der)
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        raise ScepFailure(FailInfo.BAD_REQUEST, "the envelope does not hold a PKCS#10 request") from None
    if not valid:
        raise ScepFailure(FailInfo.BAD_MESSAGE_CHECK, "the PKCS#10 request's signature does not verify")
    return csr


def _challenge(csr: x509.CertificateSigningRequest) -> bytes:
    try:
        return csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
    except x509.AttributeNotFound:
        return b""

