"""When the supervisor renews the server's own certificate."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.server.servercert import _renew_at



def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _certificate(not_before: datetime.datetime, not_after: datetime.datetime) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(not_before).not_valid_after(not_after).sign(key, hashes.SHA256()))


def test_a_short_backdated_certificate_is_not_due_at_once() -> None:
    # The CA backdates by a minute: counted from not-before, a 30 s certificate
    # would be due the moment it is issued and the supervisor would re-issue in a loop.
    now = _now()
    certificate = _certificate(now - datetime.timedelta(minutes=1), now + datetime.timedelta(seconds=30))
    renew_at = _renew_at(certificate)
    assert now + datetime.timedelta(seconds=15) <= renew_at < certificate.not_valid_after_utc


def test_a_day_long_certificate_renews_at_two_thirds() -> None:
    now = _now()
    certificate = _certificate(now - datetime.timedelta(minutes=1), now + datetime.timedelta(hours=24))
    expected = now + datetime.timedelta(hours=16)
    assert abs(_renew_at(certificate) - expected) < datetime.timedelta(seconds=5)
