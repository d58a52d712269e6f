"""When the supervisor replaces its generation of workers for a new server
certificate: early enough for a slow start, and again soon after a failure."""

from __future__ import annotations

import datetime

from appliance.server.servercert import TLSMaterial
from appliance.server.supervisor import MAX_RETRY, MIN_RETRY, renewal_due, retry_delay

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
SECOND = datetime.timedelta(seconds=1)


def _tls(renew_at: datetime.datetime, not_after: datetime.datetime) -> TLSMaterial:
    return TLSMaterial(cert_pem=b"", key_pem=b"", key_password=b"", client_cas_pem=b"", renew_at=renew_at,
                       not_after=not_after)


def test_a_quick_start_renews_at_two_thirds() -> None:
    tls = _tls(NOW + 16 * 3600 * SECOND, NOW + 24 * 3600 * SECOND)
    assert renewal_due(tls, 2 * SECOND) == tls.renew_at


def test_a_slow_start_moves_the_renewal_earlier() -> None:
    """A 6 s certificate renewed at 4 s leaves 2 s: a generation that took 3 s to
    start would serve after it expired, so the renewal begins 9 s before expiry."""
    tls = _tls(NOW + 4 * SECOND, NOW + 6 * SECOND)
    assert renewal_due(tls, 3 * SECOND) == NOW - 3 * SECOND
    assert renewal_due(tls, 0.5 * SECOND) == NOW + 4 * SECOND


def test_a_failed_renewal_is_tried_again_well_before_expiry() -> None:
    assert retry_delay(_tls(NOW, NOW + 20 * SECOND), NOW) == 5 * SECOND
    assert retry_delay(_tls(NOW, NOW + 24 * 3600 * SECOND), NOW) == MAX_RETRY
    assert retry_delay(_tls(NOW, NOW - SECOND), NOW) == MIN_RETRY  # expired: as soon as possible
