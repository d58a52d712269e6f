"""pkilint over what the CA makes today (clean), over documents with known defects
(the named lint fails), and the lint-before-sign modes."""

from __future__ import annotations

import datetime
import logging

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from appliance.authority.authority import Authority
from appliance.authority.interfaces import SignRequest
from appliance.lint import (LintFailed, Linter, LintMode, Profile, lint_certificate, lint_crl, lint_ocsp_response,
                            throwaway_key)
from tests.ca_fixtures import TestCA, make_csr, new_key

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)


def _der(signed: x509.Certificate | x509.CertificateRevocationList | ocsp.OCSPResponse) -> bytes:
    return signed.public_bytes(serialization.Encoding.DER)


def _errors(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f.code for f in findings if f.is_error]


@pytest.fixture
def issuing(make_authority) -> tuple[Authority, TestCA]:  # type: ignore[no-untyped-def]
    return make_authority(crl={"enabled": True}, ocsp={"enabled": True})


def test_what_the_ca_signs_today_is_clean(issuing: tuple[Authority, TestCA]) -> None:
    authority, ca = issuing
    csr, _ = make_csr("host.example", ["host.example"], new_key())
    certificate = authority.sign(SignRequest(csr=csr, token=ca.token("host.example", sans=["host.example"]))).certificate
    assert _errors(lint_certificate(_der(certificate))) == []
    assert _errors(lint_crl(authority.crl())) == []
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, ca.intermediate, hashes.SHA1()).build()
    assert _errors(lint_ocsp_response(authority.ocsp(_der(request)))) == []  # type: ignore[arg-type]


def _leaf(key: ec.EllipticCurvePrivateKey, *, subject: x509.Name, san_critical: bool) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder().subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Issuer")]))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.example")]), critical=san_critical)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def test_an_empty_subject_needs_a_critical_san() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    bad = _leaf(key, subject=x509.Name([]), san_critical=False).sign(key, hashes.SHA256())
    good = _leaf(key, subject=x509.Name([]), san_critical=True).sign(key, hashes.SHA256())
    assert "pkix.san_extension_not_critical_empty_subject" in _errors(lint_certificate(_der(bad)))
    assert _errors(lint_certificate(_der(good))) == []


def test_a_crl_without_number_or_aki_fails() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    crl = (x509.CertificateRevocationListBuilder().issuer_name(x509.Name.from_rfc4514_string("CN=I"))
           .last_update(NOW).next_update(NOW + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    assert {"pkix.crl_number_missing", "pkix.authority_key_identifier_missing"} <= set(_errors(lint_crl(_der(crl))))


def test_the_server_auth_profile_finds_more_than_pkix() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _leaf(key, subject=x509.Name([]), san_critical=True).sign(key, hashes.SHA256())
    assert _errors(lint_certificate(_der(certificate))) == []
    assert _errors(lint_certificate(_der(certificate), Profile.CABF_SERVERAUTH))  # no EKU, no policies, ...


def test_garbage_is_a_fatal_finding() -> None:
    assert _errors(lint_certificate(b"\x30\x03\x02\x01\x01")) == ["pkilint.decoding_failed"]


def _bad_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return _der(_leaf(key, subject=x509.Name([]), san_critical=False).sign(key, hashes.SHA256()))


def test_enforce_refuses_naming_the_lint() -> None:
    with pytest.raises(LintFailed, match="san_extension_not_critical_empty_subject"):
        Linter(LintMode.ENFORCE, lint_certificate, "certificate").check(_bad_certificate)


def test_warn_logs_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="appliance.lint"):
        findings = Linter(LintMode.WARN, lint_certificate, "certificate").check(_bad_certificate)
    assert "pkix.san_extension_not_critical_empty_subject" in _errors(findings)
    assert "san_extension_not_critical_empty_subject" in caplog.text


def test_off_does_not_even_sign() -> None:
    def never() -> bytes:
        raise AssertionError("signed with the throw-away key although linting is off")
    assert Linter(LintMode.OFF, lint_certificate, "certificate").check(never) == []


@pytest.mark.parametrize("key", [
    ec.generate_private_key(ec.SECP384R1()), rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ed25519.Ed25519PrivateKey.generate(), mldsa.MLDSA44PrivateKey.generate(), mldsa.MLDSA87PrivateKey.generate(),
])
def test_throwaway_key_has_the_real_keys_type_and_size(key: object) -> None:
    public = key.public_key()  # type: ignore[attr-defined]
    throwaway = throwaway_key(public)
    assert type(throwaway.public_key()) is type(public) or isinstance(throwaway.public_key(), type(public))
    assert throwaway.public_key() != public
    assert getattr(throwaway, "key_size", None) == getattr(key, "key_size", None)
    assert throwaway_key(public) is throwaway  # made once


def _with_names(*names: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Issuer")]))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return _der(builder.sign(key, hashes.SHA256()))


def test_single_label_and_wildcard_names_pass_pkix_but_not_public_tls() -> None:
    assert _errors(lint_certificate(_with_names("localhost", "db1", "*.example.com"))) == []
    for bad in ("a..b", "example.com.", "a.*.example", "*", "x.-y.example"):
        assert "pkix.invalid_domain_name_syntax" in _errors(lint_certificate(_with_names(bad))), bad
    assert "pkix.invalid_domain_name_syntax" in _errors(lint_certificate(_with_names("bad_name!")))
    assert "pkix.invalid_domain_name_syntax" in _errors(lint_certificate(_with_names("-lead")))
    assert "pkix.invalid_domain_name_syntax" in _errors(
        lint_certificate(_with_names("localhost"), Profile.CABF_SERVERAUTH))


@pytest.mark.parametrize("mode", ["enforce", "warn"])
def test_lint_before_sign_in_the_authority(make_authority, mode: str) -> None:  # type: ignore[no-untyped-def]
    authority, ca = make_authority(lint={"mode": mode})
    csr, _ = make_csr("a..b", ["a..b"], new_key())
    request = SignRequest(csr=csr, token=ca.token("a..b", sans=["a..b"], jti="lint-token"))
    if mode == "enforce":
        with pytest.raises(LintFailed, match="invalid_domain_name_syntax"):
            authority.sign(request)
        # Nothing was recorded and the token is still unused.
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
        assert authority.database.use_token("lint-token", ca.provisioner, expires)
    else:
        certificate = authority.sign(request).certificate
        assert authority.database.get_certificate(str(certificate.serial_number)) is not None


def test_urls_on_single_label_hosts_pass_pkix() -> None:
    key = ec.generate_private_key(ec.SECP256R1())

    def with_cdp(url: str) -> bytes:
        cdp = x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(url)], relative_name=None, reasons=None, crl_issuer=None)])
        return _der(_leaf(key, subject=x509.Name([]), san_critical=True).add_extension(cdp, critical=False)
                    .sign(key, hashes.SHA256()))

    assert _errors(lint_certificate(with_cdp("http://localhost:8080/1.0/crl"))) == []
    assert "pkix.invalid_uri_syntax" in _errors(lint_certificate(with_cdp("http://a..b/crl")))
    assert "pkix.invalid_uri_syntax" in _errors(lint_certificate(with_cdp("not a url")))


@pytest.mark.parametrize("key_encipherment", [False, True], ids=["signing", "key-encipherment"])
def test_pkilint_knows_ml_dsa(key_encipherment: bool) -> None:
    """pkilint 0.13 knows RFC 9881: ML-DSA keys and signatures (sizes, no parameters) raise no
    "unsupported algorithm" notice, and an ML-DSA key may not encipher (section 5): nothing of
    its findings needs filtering for ML-DSA."""
    issuer, subject = mldsa.MLDSA65PrivateKey.generate(), mldsa.MLDSA44PrivateKey.generate()
    usage = x509.KeyUsage(True, False, key_encipherment, False, False, False, False, False, False)
    certificate = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pq.example")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Issuer")]))
        .public_key(subject.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("pq.example")]), critical=False)
        .add_extension(usage, critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False)
        .sign(issuer, None)
    )
    findings = lint_certificate(_der(certificate))
    assert not [f for f in findings if "unsupported" in f.code]
    assert _errors(findings) == (["pkix.key_usage_value_prohibited_for_mldsa"] if key_encipherment else [])
