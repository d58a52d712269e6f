"""The CRL: every unexpired revocation, signed by the intermediate, cached briefly."""

from __future__ import annotations

import datetime
import threading
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.authority.keys import signature_hash
from appliance.config import CrlConfig
from appliance.db.interfaces import Database
from appliance.errors import NotImplementedFeature

#: Other instances sharing the database revoke too: rebuild at least this often.
MAX_CACHE_AGE = datetime.timedelta(minutes=1)

_REASONS = {
    1: x509.ReasonFlags.key_compromise, 2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed, 4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation, 6: x509.ReasonFlags.certificate_hold,
    8: x509.ReasonFlags.remove_from_crl, 9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}


class CrlPublisher:
    """Builds the DER CRL on demand and keeps it until it is stale or a revocation lands."""

    def __init__(self, config: CrlConfig, issuer: x509.Certificate, signer: object, database: Database,
                 now: Callable[[], datetime.datetime]) -> None:
        self.config = config
        self._issuer = issuer
        self._signer = signer
        self._database = database
        self._now = now
        self._lock = threading.Lock()
        self._cached: tuple[datetime.datetime, bytes] | None = None

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def current(self) -> bytes:
        if not self.config.enabled:
            raise NotImplementedFeature("the CRL is not enabled (crl.enabled in ca.json)")
        now = self._now()
        with self._lock:
            if self._cached and now - self._cached[0] < min(MAX_CACHE_AGE, self.config.cache_duration / 2):
                return self._cached[1]
            der = self._build(now)
            self._cached = (now, der)
            return der

    def _build(self, now: datetime.datetime) -> bytes:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._issuer.subject)
            .last_update(now)
            .next_update(now + self.config.cache_duration)
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._issuer.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        for record in self._database.list_revocations(active_only=True):
            revoked = x509.RevokedCertificateBuilder().serial_number(int(record.serial)).revocation_date(record.revoked_at)
            if record.reason_code in _REASONS:
                revoked = revoked.add_extension(x509.CRLReason(_REASONS[record.reason_code]), critical=False)
            builder = builder.add_revoked_certificate(revoked.build())
        crl = builder.sign(self._signer, signature_hash(self._signer))  # type: ignore[arg-type]
        return crl.public_bytes(serialization.Encoding.DER)
