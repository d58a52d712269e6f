"""Per-provisioner settings of what is signed: ``lint.mode`` overrides the authority's,
and ``allowMustStaple`` keeps a CSR's TLS Feature (must-staple) extension."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from appliance.authority.authority import Authority
from appliance.authority.interfaces import SignRequest
from appliance.errors import BadRequest
from appliance.lint import LintFailed
from tests.ca_fixtures import TestCA, make_csr, new_key

CA = tuple[Authority, TestCA]


def _sign(authority: Authority, ca: TestCA, csr: x509.CertificateSigningRequest, name: str) -> x509.Certificate:
    return authority.sign(SignRequest(csr=csr, token=ca.token(name, sans=[name]))).certificate


@pytest.mark.parametrize(("authority_mode", "provisioner_mode", "refused"), [
    ("enforce", "off", False), ("off", "enforce", True), ("enforce", None, True), ("warn", None, False),
])
def test_provisioner_lint_mode_overrides(make_authority: Callable[..., CA], authority_mode: str,
                                         provisioner_mode: str | None, refused: bool) -> None:
    provisioner: dict[str, Any] = {"lint": {"mode": provisioner_mode}} if provisioner_mode else {}
    authority, ca = make_authority(lint={"mode": authority_mode}, provisioner=provisioner)
    csr, _ = make_csr("a..b", ["a..b"])  # pkilint: invalid domain name syntax
    if refused:
        with pytest.raises(LintFailed, match="invalid_domain_name_syntax"):
            _sign(authority, ca, csr, "a..b")
    else:
        assert _sign(authority, ca, csr, "a..b").serial_number


def _stapled_csr(name: str) -> x509.CertificateSigningRequest:
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False)
            .sign(new_key(), hashes.SHA256()))  # type: ignore[arg-type]


@pytest.mark.parametrize("allowed", [True, False])
def test_must_staple_kept_only_when_allowed(make_authority: Callable[..., CA], allowed: bool) -> None:
    authority, ca = make_authority(provisioner={"allowMustStaple": allowed})
    certificate = _sign(authority, ca, _stapled_csr("staple.test"), "staple.test")
    try:
        feature = certificate.extensions.get_extension_for_class(x509.TLSFeature).value
    except x509.ExtensionNotFound:
        feature = None
    assert (feature == x509.TLSFeature([x509.TLSFeatureType.status_request])) is allowed


@pytest.mark.parametrize("provisioner", [{"lint": {"mode": "loud"}}, {"lint": "off"}, {"allowMustStaple": "yes"}])
def test_bad_provisioner_settings_refuse_to_load(make_authority: Callable[..., CA], provisioner: dict[str, Any]) -> None:
    with pytest.raises(BadRequest, match="lint|allowMustStaple"):
        make_authority(provisioner=provisioner)
