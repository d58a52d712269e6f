"""ACME profiles with a real client: certbot's ``--required-profile`` names the
``shortlived`` profile in its new-order; the certificate openssl verifies follows it
(6 days, serverAuth only), and a profile the CA does not offer fails certbot's order."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509

from tests.e2e.acme.clients import HTTP_01, Certbot, ClientFailed, Endpoint
from tests.e2e.acme.harness import AcmeCA

pytestmark = pytest.mark.slow


def test_certbot_required_profile(acme: AcmeCA, endpoint: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> None:
    state = tmp_path_factory.mktemp("certbot-profile")
    certbot = Certbot(endpoint, state)
    certbot.register()
    leaf = acme.verify(certbot.obtain(("short.certbot.test",), HTTP_01, profile="shortlived"))
    issued_at = leaf.not_valid_before_utc + datetime.timedelta(minutes=1)  # init's backdate
    assert leaf.not_valid_after_utc - issued_at == datetime.timedelta(days=6)
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        x509.ExtendedKeyUsageOID.SERVER_AUTH]
    order_profiles = acme.ca.query("SELECT profile FROM acme_orders WHERE profile IS NOT NULL")
    assert [row[0] for row in order_profiles] == ["shortlived"]
    with pytest.raises(ClientFailed, match="no profile named 'classic' \\(offered: shortlived\\)"):
        certbot.obtain(("classic.certbot.test",), HTTP_01, profile="classic")
    assert "urn:ietf:params:acme:error:invalidProfile" in (state / "logs" / "letsencrypt.log").read_text()
