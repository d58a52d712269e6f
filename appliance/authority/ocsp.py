"""The OCSP responder (RFC 6960, RFC 5019 profile): the status of one certificate
issued by the intermediate, signed by the intermediate's key.

Responses without a nonce are signed once and served again while no revocation has
been recorded since (by any process sharing the database: one indexed read per
request) and they are younger than half their validity, so a revocation is visible
to the first request after the revoke returns. A request with a nonce is answered
freshly, the nonce echoed. Every response's signature is checked before it leaves.
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass
from typing import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PrivateKeyTypes
from cryptography.x509 import ocsp

from appliance import metrics
from appliance.authority.crl import REASONS
from appliance.authority.leaf import IssuanceFailed
from appliance.config import OcspConfig
from appliance.db.interfaces import Database
from appliance.errors import NotImplementedFeature
from appliance.lint import Linter, LintMode, lint_ocsp_response, throwaway_responder
from appliance.pki.keys import ML_DSA_PUBLIC_KEYS, signature_hash

_SUPPORTED_HASHES = (hashes.SHA1, hashes.SHA224, hashes.SHA256, hashes.SHA384, hashes.SHA512)


@dataclass(frozen=True)
class _Cached:
    revision: int
    produced_at: datetime.datetime
    der: bytes


def _error(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


class ResponderDelegate:
    """A delegated responder (RFC 6960 4.2.2.2): a key of its own behind a KMS URI and a
    short-lived certificate for it (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) that the
    CA issues itself, and issues again once half of its life has passed."""

    def __init__(self, signer: PrivateKeyTypes, issue: Callable[[CertificatePublicKeyTypes], x509.Certificate],
                 now: Callable[[], datetime.datetime]) -> None:
        self.signer = signer
        self._issue = issue
        self._now = now
        self._lock = threading.Lock()
        self._certificate: x509.Certificate | None = None

    def certificate(self) -> x509.Certificate:
        with self._lock:
            current = self._certificate
            if current is None or self._now() >= current.not_valid_before_utc + (
                    current.not_valid_after_utc - current.not_valid_before_utc) / 2:
                current = self._certificate = self._issue(self.signer.public_key())  # type: ignore[arg-type]
            return current


class OcspResponder:
    """Answers DER OCSP requests with DER OCSP responses; never raises on bad input."""

    def __init__(self, config: OcspConfig, issuer: x509.Certificate, signer: object, database: Database,
                 now: Callable[[], datetime.datetime], linter: Linter | None = None,
                 delegate: ResponderDelegate | None = None) -> None:
        self.config = config
        self._delegate = delegate
        self._linter = linter or Linter(LintMode.OFF, lint_ocsp_response, "OCSP response")
        self._issuer = issuer
        self._signer = signer
        self._database = database
        self._now = now
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, str], _Cached] = {}
        self._hashes: dict[str, tuple[bytes, bytes]] = {}

    def respond(self, request_der: bytes) -> bytes:
        """The DER response to ``request_der``: successful (good, revoked or unknown),
        ``malformedRequest`` for what does not parse or asks for more than one
        certificate or an unknown hash, ``unauthorized`` for another issuer's certificate."""
        if not self.config.enabled:
            raise NotImplementedFeature("the OCSP responder is not enabled (ocsp.enabled in ca.json)")
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            algorithm = request.hash_algorithm
            serial = request.serial_number
            name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
            nonce = self._nonce(request)
        except (ValueError, TypeError, NotImplementedError, UnsupportedAlgorithm):
            return _error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if not isinstance(algorithm, _SUPPORTED_HASHES):
            return _error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if (name_hash, key_hash) != self._issuer_hashes(algorithm):
            return _error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        if nonce is not None:
            return self._build(serial, algorithm, nonce, self._now())
        return self._cached(serial, algorithm)

    @staticmethod
    def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
        try:
            return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            return None

    def _issuer_hashes(self, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
        """The intermediate's name and key hashes, as a request for one of its certificates carries them."""
        if algorithm.name not in self._hashes:
            # cryptography hashes the key's BIT STRING for a request; the name is the subject's DER.
            probe = ocsp.OCSPRequestBuilder().add_certificate(self._issuer, self._issuer, algorithm).build()
            name = hashes.Hash(algorithm)
            name.update(self._issuer.subject.public_bytes())
            self._hashes[algorithm.name] = (name.finalize(), probe.issuer_key_hash)
        return self._hashes[algorithm.name]

    def _cached(self, serial: int, algorithm: hashes.HashAlgorithm) -> bytes:
        # Read the revision before the status: a response is never labelled newer than its content.
        revision = self._database.revocations_revision()
        now = self._now()
        key = (serial, algorithm.name)
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached.revision == revision and now - cached.produced_at < self.config.validity / 2:
                return cached.der
        der = self._build(serial, algorithm, None, now)
        with self._lock:
            if len(self._cache) >= self.config.cache_size:
                self._cache.clear()
            self._cache[key] = _Cached(revision, now, der)
        return der

    def _build(self, serial: int, algorithm: hashes.HashAlgorithm, nonce: bytes | None,
               now: datetime.datetime) -> bytes:
        status, revoked_at, reason = self._status(serial)
        this_update = now.replace(microsecond=0)
        name_hash, key_hash = self._issuer_hashes(algorithm)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=name_hash, issuer_key_hash=key_hash,
            serial_number=serial, algorithm=algorithm, cert_status=status,
            this_update=this_update, next_update=this_update + self.config.validity,
            revocation_time=revoked_at, revocation_reason=reason,
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        signer, responder = self._signer, self._issuer
        if self._delegate is not None:
            signer, responder = self._delegate.signer, self._delegate.certificate()
            builder = builder.certificates([responder])
        algorithm = signature_hash(signer)  # type: ignore[arg-type, assignment]
        throwaway, twin = throwaway_responder(responder)
        self._linter.check(lambda: builder.responder_id(ocsp.OCSPResponderEncoding.HASH, twin)
                           .sign(throwaway, algorithm).public_bytes(serialization.Encoding.DER))  # type: ignore[arg-type]
        response = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder).sign(
            signer, algorithm)  # type: ignore[arg-type]
        self._verify(response, responder)
        metrics.ocsp_responses_signed.inc()
        metrics.ocsp_last_signed.set(this_update.timestamp())
        return response.public_bytes(serialization.Encoding.DER)

    def _status(self, serial: int) -> tuple[ocsp.OCSPCertStatus, datetime.datetime | None, x509.ReasonFlags | None]:
        decimal = str(serial)
        revocation = self._database.get_revocation(decimal)
        if revocation is not None:
            return ocsp.OCSPCertStatus.REVOKED, revocation.revoked_at, REASONS.get(revocation.reason_code)
        if self._database.get_certificate(decimal) is None:
            return ocsp.OCSPCertStatus.UNKNOWN, None, None
        return ocsp.OCSPCertStatus.GOOD, None, None

    def _verify(self, response: ocsp.OCSPResponse, responder: x509.Certificate) -> None:
        """The signature the device returned verifies with the responder's public key."""
        key = responder.public_key()
        data, signature = response.tbs_response_bytes, response.signature
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, padding.PKCS1v15(), response.signature_hash_algorithm)  # type: ignore[arg-type]
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, data, ec.ECDSA(response.signature_hash_algorithm))  # type: ignore[arg-type]
            elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey, *ML_DSA_PUBLIC_KEYS)):
                key.verify(signature, data)
            else:
                raise TypeError(f"unsupported issuer key {type(key).__name__}")
        except (InvalidSignature, TypeError, ValueError) as exc:
            raise IssuanceFailed(f"OCSP response does not verify against its responder: {exc}") from None
