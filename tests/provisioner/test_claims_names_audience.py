from __future__ import annotations

import datetime
import ipaddress

import pytest

from appliance.provisioner import Audiences, Claimer, ClaimsError, Names

H = datetime.timedelta(hours=1)


def test_step_ca_defaults() -> None:
    c = Claimer()
    assert (c.min_tls_duration, c.max_tls_duration, c.default_tls_duration) == (datetime.timedelta(minutes=5), 24 * H, 24 * H)
    assert not c.disable_renewal and not c.allow_renewal_after_expiry


def test_provisioner_claims_override_authority_claims() -> None:
    authority = Claimer().merged({"maxTLSCertDuration": "72h", "disableRenewal": True}, "authority")
    provisioner = authority.merged({"defaultTLSCertDuration": "48h", "disableRenewal": False}, "p")
    assert provisioner.max_tls_duration == 72 * H
    assert provisioner.default_tls_duration == 48 * H
    assert provisioner.disable_renewal is False
    assert authority.disable_renewal is True


@pytest.mark.parametrize("claims", [
    {"minTLSCertDuration": "2h", "maxTLSCertDuration": "1h"},
    {"defaultTLSCertDuration": "48h"},
    {"disableRenewal": "yes"},
    {"maxTLSCertDuration": "forever"},
])
def test_invalid_claims(claims: dict) -> None:
    with pytest.raises(ClaimsError):
        Claimer().merged(claims, "p")


def test_names_split_like_step() -> None:
    names = Names.parse(["Host.Example.com", "10.0.0.1", "::1", "a@b.c", "spiffe://x/y"])
    assert names.dns == {"host.example.com"}
    assert names.ips == {ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("::1")}
    assert names.emails == {"a@b.c"}
    assert names.uris == {"spiffe://x/y"}
    assert Names.parse(["a.com", "b.com"]).outside(Names.parse(["A.com"])) == ["b.com"]
    assert not Names.parse([])


@pytest.mark.parametrize(("aud", "ok"), [
    ("https://ca.test/sign", True),
    ("https://ca.test:9000/1.0/sign", True),
    ("https://CA.test:443/1.0/sign#provisioner-id", True),
    (["https://other/sign", "https://10.0.0.1/1.0/sign"], True),
    ("https://ca.test/1.0/revoke", False),
    ("http://ca.test/1.0/sign", False),
    ("https://evil.test/1.0/sign", False),
    ("https://ca.test/2.0/sign", False),
    (None, False),
    (5, False),
])
def test_audience(aud: object, ok: bool) -> None:
    assert Audiences(frozenset({"ca.test", "10.0.0.1"})).matches(aud, "sign") is ok
