"""Leaves carry the CRL distribution point and the AIA (OCSP, CA issuers) while the
CRL or OCSP is enabled: this CA's URLs (plain HTTP on insecureAddress), or ca.json's."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from appliance.authority.authority import Authority
from appliance.authority.interfaces import SignRequest
from tests.ca_fixtures import TestCA, make_csr

CA = tuple[Authority, TestCA]


def _leaf(make_authority: Callable[..., CA], **settings: Any) -> x509.Certificate:
    authority, ca = make_authority(**settings)
    csr, _ = make_csr("host.test", ["host.test"])
    return authority.sign(SignRequest(csr=csr, token=ca.token("host.test", sans=["host.test"]))).certificate


def _urls(certificate: x509.Certificate) -> tuple[list[str], list[str], list[str]]:
    try:
        cdp = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl = [n.value for p in cdp for n in p.full_name or []]
    except x509.ExtensionNotFound:
        crl = []
    try:
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        aia = x509.AuthorityInformationAccess([])
    ocsp = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]
    issuers = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
    return crl, ocsp, issuers


def test_no_urls_while_revocation_is_not_published(make_authority: Callable[..., CA]) -> None:
    assert _urls(_leaf(make_authority)) == ([], [], [])


def test_this_cas_urls(make_authority: Callable[..., CA]) -> None:
    leaf = _leaf(make_authority, crl={"enabled": True}, ocsp={"enabled": True})
    # build_ca's address is ":9000" and its first dnsName ca.test; no insecureAddress: HTTPS.
    assert _urls(leaf) == (["https://ca.test:9000/1.0/crl"], ["https://ca.test:9000/ocsp"],
                           ["https://ca.test:9000/1.0/intermediate.crt"])


def test_configured_urls_and_only_what_is_enabled(make_authority: Callable[..., CA]) -> None:
    leaf = _leaf(make_authority, crl={"enabled": True, "idpURL": "http://crl.example/ca.crl"})
    assert _urls(leaf) == (["http://crl.example/ca.crl"], [], ["https://ca.test:9000/1.0/intermediate.crt"])
    leaf = _leaf(make_authority, ocsp={"enabled": True, "url": "http://ocsp.example"})
    assert _urls(leaf) == ([], ["http://ocsp.example"], ["https://ca.test:9000/1.0/intermediate.crt"])


def test_a_templates_own_cdp_is_kept(make_authority: Callable[..., CA]) -> None:
    template = ('{"subject": {"commonName": {{ toJson .Subject.CommonName }}}, "sans": {{ toJson .SANs }},'
                ' "crlDistributionPoints": ["http://mine.example/crl"]}')
    leaf = _leaf(make_authority, crl={"enabled": True}, provisioner={"options": {"x509": {"template": template}}})
    assert _urls(leaf)[0] == ["http://mine.example/crl"]


@pytest.mark.parametrize("url", ["ldap://x", "not a url"])
def test_bad_ocsp_url_refuses_to_load(tmp_path: Any, url: str) -> None:
    from appliance.config import ConfigError
    from tests.ca_fixtures import build_ca
    with pytest.raises(ConfigError, match="ocsp.url"):
        build_ca(tmp_path, ocsp={"enabled": True, "url": url}).config()
