"""When ``appliance ca renew --daemon`` renews: 2/3 of the lifetime counted from when
the certificate was obtained (not its backdated notBefore), or ``--expires-in``
before expiry, and never twice within a third of the remaining lifetime."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.client.renewal import MIN_WAIT, next_renewal, renew_at
from tests.clock import FixedRandom

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
SECOND = datetime.timedelta(seconds=1)
BACKDATE = datetime.timedelta(minutes=1)


def _certificate(not_before: datetime.datetime, not_after: datetime.datetime) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "short.example")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(not_before).not_valid_after(not_after).sign(key, hashes.SHA256()))


def test_a_backdated_short_certificate_is_not_due_at_once() -> None:
    certificate = _certificate(NOW - BACKDATE, NOW + 10 * SECOND)  # 10 s, backdated by the CA's default minute
    assert renew_at(certificate, FixedRandom(0.0), NOW) == NOW + datetime.timedelta(seconds=10 * 2 / 3)
    assert NOW + 6 * SECOND <= renew_at(certificate, FixedRandom(1.0), NOW) < NOW + 10 * SECOND


def test_a_long_certificate_loaded_late_renews_at_two_thirds_of_what_is_left() -> None:
    certificate = _certificate(NOW - 12 * datetime.timedelta(hours=1), NOW + 12 * datetime.timedelta(hours=1))
    assert renew_at(certificate, FixedRandom(0.0), NOW - 12 * datetime.timedelta(hours=1)) == NOW + 4 * datetime.timedelta(
        hours=1)
    assert renew_at(certificate, FixedRandom(0.0), NOW) == NOW + 8 * datetime.timedelta(hours=1)


def test_expires_in_moves_the_renewal_before_expiry() -> None:
    certificate = _certificate(NOW - BACKDATE, NOW + datetime.timedelta(hours=24))
    assert renew_at(certificate, FixedRandom(0.0), NOW, datetime.timedelta(hours=8)) == NOW + datetime.timedelta(hours=16)


def test_renewals_are_a_third_of_the_remaining_lifetime_apart() -> None:
    certificate = _certificate(NOW - BACKDATE, NOW + 9 * SECOND)
    # --expires-in longer than the lifetime: always due, yet not again within 3 s
    assert next_renewal(certificate, FixedRandom(1.0), NOW, datetime.timedelta(hours=1)) == NOW + 3 * SECOND
    assert next_renewal(certificate, FixedRandom(0.0), NOW) == NOW + 6 * SECOND


def test_an_already_expired_renewal_waits_at_least_a_second() -> None:
    certificate = _certificate(NOW - BACKDATE, NOW - SECOND)
    assert next_renewal(certificate, FixedRandom(0.0), NOW) == NOW + MIN_WAIT
