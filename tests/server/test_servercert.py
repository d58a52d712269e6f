"""When the supervisor renews the server's own certificate."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.server.servercert import renew_at


NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)


def _certificate(not_before: datetime.datetime, not_after: datetime.datetime) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(not_before).not_valid_after(not_after).sign(key, hashes.SHA256()))


def test_a_short_backdated_certificate_is_not_due_at_once() -> None:
    # The CA backdates by a minute: counted from not-before, a 30 s certificate
    # would be due the moment it is issued and the supervisor would re-issue in a loop.
    certificate = _certificate(NOW - datetime.timedelta(minutes=1), NOW + datetime.timedelta(seconds=30))
    assert renew_at(certificate, NOW) == NOW + datetime.timedelta(seconds=20)


def test_a_day_long_certificate_renews_at_two_thirds() -> None:
    certificate = _certificate(NOW - datetime.timedelta(minutes=1), NOW + datetime.timedelta(hours=24))
    assert renew_at(certificate, NOW) == NOW + datetime.timedelta(hours=16)
