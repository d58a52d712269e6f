"""The SCEP operations of RFC 8894 for every SCEP provisioner: GetCACaps, GetCACert and
PKIOperation (PKCSReq, RenewalReq, GetCertInitial). Transport-free: ``appliance.api.scep`` serves it over HTTP."""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from typing import Callable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import AttributeOID

from appliance.authority.interfaces import AuthorityInterface, IssuedCertificate
from appliance.errors import ApplianceError, BadRequest, ErrorKind, NotFound
from appliance.pki.clock import utc_now
from appliance.provisioner.scep import DecrypterSettings, SCEPProvisioner
from appliance.scep.envelope import open_envelope, seal_envelope
from appliance.scep.errors import Addressee, FailInfo, ScepFailure
from appliance.scep.keys import CaSigner, ScepKeys, open_scep_keys
from appliance.scep.store import ScepTransaction, SQLScepStore, TransactionKey
from appliance.scep.messages import NONCE_BYTES, MessageType, PkiMessage, PkiStatus, cert_rep, parse_pki_message

log = logging.getLogger(__name__)

CA_CERT_TYPE = "application/x-x509-ca-cert"
CA_RA_CERT_TYPE = "application/x-x509-ca-ra-cert"
PKI_MESSAGE_TYPE = "application/x-pki-message"
#: Errors of the authority that refuse this request (answered FAILURE badRequest); the
#: others (a KMS or webhook that is down) are not the client's fault and stay errors.
REFUSALS = (ErrorKind.BAD_REQUEST, ErrorKind.UNAUTHORIZED, ErrorKind.FORBIDDEN, ErrorKind.CONFLICT)


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
            if request.message_type in (MessageType.PKCS_REQ, MessageType.RENEWAL_REQ):
                return self._enrol(provisioner, keys, request, addressee)
            if request.message_type is MessageType.CERT_POLL:
                return self._poll(provisioner, keys, request, addressee)
            raise ScepFailure(FailInfo.BAD_REQUEST, f"messageType {request.message_type.name} is not served")
        except ScepFailure as failure:
            return self._failure(addressee, failure, provisioner)

    def _enrol(self, provisioner: SCEPProvisioner, keys: ScepKeys, request: PkiMessage,
               addressee: Addressee) -> bytes:
        """PKCSReq and RenewalReq: the transaction is claimed before anything is issued, so
        a replay (the same request again) is answered with the certificate issued once."""
        opened = open_envelope(request.envelope, keys.decrypter_certificate, keys.decrypter)
        csr = _csr(opened.content)
        algorithm = provisioner.response_encryption or opened.algorithm
        request_sha256 = hashlib.sha256(opened.content).hexdigest()
        renews = str(request.signer.serial_number) if request.message_type is MessageType.RENEWAL_REQ else ""
        key = TransactionKey(provisioner.name, request.transaction_id, renews)
        known = self._store.claim(key, request_sha256, self._now())
        if known is not None:
            if known.request_sha256 != request_sha256:
                raise ScepFailure(FailInfo.BAD_REQUEST,
                                  f"transaction {request.transaction_id} was opened with another request")
            log.info("SCEP provisioner '%s' answers replayed transaction %s", provisioner.name,
                     request.transaction_id)
            return self._answer(known, keys, addressee, algorithm)
        try:
            issued = self._issue(provisioner, request, csr)
        except ScepFailure as refused:
            self._store.release(key)
            self._authority.notify_scep(provisioner, csr, request.transaction_id, error=refused.message)
            raise
        except BaseException:
            self._store.release(key)
            raise
        self._store.complete(key, issued.certificate)
        self._authority.notify_scep(provisioner, csr, request.transaction_id, certificate=issued.certificate)
        log.info("SCEP provisioner '%s' issued serial %s (transaction %s)", provisioner.name,
                 issued.certificate.serial_number, request.transaction_id)
        return self._success(issued.certificate, keys, addressee, algorithm)

    def _issue(self, provisioner: SCEPProvisioner, request: PkiMessage,
               csr: x509.CertificateSigningRequest) -> IssuedCertificate:
        try:
            if request.message_type is MessageType.RENEWAL_REQ:
                return self._authority.renew_for_scep(request.signer, csr, provisioner)
            provisioner.check_challenge(_challenge(csr))
            return self._authority.sign_for_scep(csr, provisioner)
        except ApplianceError as exc:
            if exc.kind not in REFUSALS:
                raise
            raise ScepFailure(FailInfo.BAD_REQUEST, exc.message) from None

    def _poll(self, provisioner: SCEPProvisioner, keys: ScepKeys, request: PkiMessage,
              addressee: Addressee) -> bytes:
        """GetCertInitial: the certificate of a known transaction (PENDING while it is being
        issued); an unknown one is ``badCertId``."""
        opened = open_envelope(request.envelope, keys.decrypter_certificate, keys.decrypter)
        known = self._store.latest(provisioner.name, request.transaction_id)
        if known is None:
            raise ScepFailure(FailInfo.BAD_CERT_ID, f"no transaction {request.transaction_id}")
        return self._answer(known, keys, addressee, provisioner.response_encryption or opened.algorithm)

    def _answer(self, known: ScepTransaction, keys: ScepKeys, addressee: Addressee, algorithm: str) -> bytes:
        if known.certificate is not None:
            return self._success(known.certificate, keys, addressee, algorithm)
        signer, certificate, chain = self._reply_signer(keys)
        return cert_rep(addressee, PkiStatus.PENDING, signer, certificate, chain=chain,
                        now=self._now(), nonce=self._nonce(NONCE_BYTES))

    def _success(self, issued: x509.Certificate, keys: ScepKeys, addressee: Addressee, algorithm: str) -> bytes:
        """SUCCESS: ``issued`` in a degenerate SignedData, encrypted to the request's signer."""
        degenerate = pkcs7.serialize_certificates([issued], Encoding.DER)
        envelope = seal_envelope(degenerate, addressee.signer, algorithm)
        signer, certificate, chain = self._reply_signer(keys)
        return cert_rep(addressee, PkiStatus.SUCCESS, signer, certificate, chain=chain,
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

