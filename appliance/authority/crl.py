"""The CRL: every unexpired revocation, signed by the intermediate, published in
the database (one number source for every worker and instance) while current."""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from appliance import metrics
from appliance.pki.keys import signature_hash
from appliance.config import CrlConfig
from appliance.db.crl_store import CrlState
from appliance.db.interfaces import Database
from appliance.authority.leaf import IssuanceFailed
from appliance.errors import NotImplementedFeature, Unavailable
from appliance.lint import Linter, LintMode, lint_crl, throwaway_key

REASONS = {
    1: x509.ReasonFlags.key_compromise, 2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed, 4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation, 6: x509.ReasonFlags.certificate_hold,
    8: x509.ReasonFlags.remove_from_crl, 9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}


@dataclass(frozen=True)
class _Cached:
    number: int
    der: bytes


#: Entries linted: every entry is made by the same code, so the first ones and one of
#: each reason stand for all (pkilint reads ~3,000 entries a second).
LINT_SAMPLE = 1000

#: Attempts to publish before giving up (each lost only to another process publishing first).
PUBLISH_ATTEMPTS = 5


class CrlPublisher:
    """Serves the CRL published in the database (by any process sharing it) while
    it is signed by this issuer, lists every revocation recorded so far and is
    younger than half its validity; otherwise builds the next one, numbered one
    above it, and publishes it. So a CRL always lists every revocation committed before the request,
    whatever ``generateOnRevoke`` says, and CRL numbers never go backwards, from
    whichever worker or instance a client fetches them. Each request costs two
    primary-key reads; the DER is read only when another process published it."""

    def __init__(self, config: CrlConfig, issuer: x509.Certificate, signer: object, database: Database,
                 now: Callable[[], datetime.datetime], linter: Linter | None = None) -> None:
        self.config = config
        self._linter = linter or Linter(LintMode.OFF, lint_crl, "CRL")
        self._throwaway = throwaway_key(issuer.public_key())
        self._issuer = issuer
        self._signer = signer
        self._database = database
        self._now = now
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
        self._issuer_id = issuer.fingerprint(hashes.SHA256()).hex()

    def current(self) -> bytes:
        if not self.config.enabled:
            raise NotImplementedFeature("the CRL is not enabled (crl.enabled in ca.json)")
        with self._lock:
            for _ in range(PUBLISH_ATTEMPTS):
                # Read before the revocations are listed: a CRL is never labelled newer than its content.
                revision = self._database.revocations_revision()
                now = self._now()
                published = self._database.crl_state()
                if (published is not None and published.issuer == self._issuer_id
                        and (published.revision >= revision  # lists every revocation read above
                             or not self.config.generate_on_revoke)
                        and now - published.this_update < self.config.renew_period):
                    der = self._published(published.number)
                    if der is not None:
                        return der
                    continue  # replaced since it was read
                state = CrlState((published.number if published else 0) + 1, self._issuer_id, revision, now)
                der = self._build(now, state.number)
                if self._database.publish_crl(state, der):
                    self._cached = _Cached(state.number, der)
                    return der
        raise Unavailable("the CRL changed too often to publish one: try again")

    def _published(self, number: int) -> bytes | None:
        if self._cached is not None and self._cached.number == number:
            return self._cached.der
        der = self._database.crl_der(number)
        if der is not None:
            self._cached = _Cached(number, der)
        return der

    def _build(self, now: datetime.datetime, number: int) -> bytes:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._issuer.subject)
            .last_update(now)
            .next_update(now + self.config.cache_duration)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._issuer.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        if self.config.idp_url:
            builder = builder.add_extension(x509.IssuingDistributionPoint(
                full_name=[x509.UniformResourceIdentifier(self.config.idp_url)], relative_name=None,
                only_contains_user_certs=False, only_contains_ca_certs=False, only_some_reasons=None,
                indirect_crl=False, only_contains_attribute_certs=False), critical=True)
        sample, sampled_reasons = builder, set()
        for index, record in enumerate(self._database.list_revocations(active_only=True)):
            revoked = x509.RevokedCertificateBuilder().serial_number(int(record.serial)).revocation_date(record.revoked_at)
            if record.reason_code in REASONS:
                revoked = revoked.add_extension(x509.CRLReason(REASONS[record.reason_code]), critical=False)
            entry = revoked.build()
            builder = builder.add_revoked_certificate(entry)
            if index < LINT_SAMPLE or record.reason_code not in sampled_reasons:
                sample = sample.add_revoked_certificate(entry)
                sampled_reasons.add(record.reason_code)
        algorithm = signature_hash(self._signer)  # type: ignore[arg-type]
        self._linter.check(lambda: sample.sign(self._throwaway, algorithm).public_bytes(serialization.Encoding.DER))  # type: ignore[arg-type]
        crl = builder.sign(self._signer, algorithm)  # type: ignore[arg-type]
        if not crl.is_signature_valid(self._issuer.public_key()):  # type: ignore[arg-type]
            raise IssuanceFailed("the CRL does not verify against the intermediate")
        metrics.crl_generated.inc()
        return crl.public_bytes(serialization.Encoding.DER)
