"""The indexed validator walk (``appliance.lint.dispatch``) gives exactly pkilint's own
results: every validator run on the same nodes, in the same order, with the same findings."""

from __future__ import annotations

import datetime
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pkilint import loader, validation

from appliance.lint.dispatch import index
from appliance.lint.findings import Profile, new_certificate_validator, new_crl_validator, new_ocsp_validator

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
KEY = ec.generate_private_key(ec.SECP256R1())
ISSUER = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Issuer")])


def _certificate(subject: str, names: list[str], *, san_critical: bool = False, extra: bool = False) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)] if subject else []))
        .issuer_name(ISSUER).public_key(KEY.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(KEY.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(KEY.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=san_critical)
    )
    if extra:  # critical EKU (a finding), KU, CDP on a bad host
        builder = (builder
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=True)
                   .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
                   .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                       [x509.UniformResourceIdentifier("http://a..b/crl")], None, None, None)]), critical=False))
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _crl() -> bytes:
    revoked = x509.RevokedCertificateBuilder().serial_number(7).revocation_date(NOW).build()
    return (x509.CertificateRevocationListBuilder().issuer_name(ISSUER).last_update(NOW)
            .next_update(NOW + datetime.timedelta(days=1)).add_revoked_certificate(revoked)
            .sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


def _ocsp() -> bytes:
    issuer_der = _certificate("Issuer", ["issuer.example"])
    issuer = x509.load_der_x509_certificate(issuer_der)
    response = (ocsp.OCSPResponseBuilder()
                .add_response(issuer, issuer, hashes.SHA1(), ocsp.OCSPCertStatus.GOOD, NOW,
                              NOW + datetime.timedelta(days=1), None, None)
                .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer).sign(KEY, hashes.SHA256()))
    return response.public_bytes(serialization.Encoding.DER)


def _summary(results: list[Any]) -> list[tuple[str, str, list[str]]]:
    return [(r.validator.name, str(r.node.path), [repr(d) for d in r.finding_descriptions]) for r in results]


CASES: list[tuple[str, Callable[[], validation.ValidatorContainer], Any, Callable[[], bytes]]] = [
    ("clean leaf", lambda: new_certificate_validator(Profile.PKIX), loader.RFC5280CertificateDocumentLoader,
     lambda: _certificate("host.example", ["host.example", "www.host.example"])),
    ("empty subject, SAN not critical", lambda: new_certificate_validator(Profile.PKIX),
     loader.RFC5280CertificateDocumentLoader, lambda: _certificate("", ["a..b", "*", "x.-y"])),
    ("critical EKU, bad CDP host", lambda: new_certificate_validator(Profile.PKIX),
     loader.RFC5280CertificateDocumentLoader, lambda: _certificate("x", ["localhost"], extra=True)),
    ("CA/B Forum profile", lambda: new_certificate_validator(Profile.CABF_SERVERAUTH),
     loader.RFC5280CertificateDocumentLoader, lambda: _certificate("x", ["localhost"], extra=True)),
    ("CRL without number or AKI", new_crl_validator, loader.RFC5280CertificateListDocumentLoader, _crl),
    ("OCSP response", new_ocsp_validator, loader.RFC6960OCSPResponseDocumentLoader, _ocsp),
]


@pytest.mark.parametrize(("build", "document_loader", "der"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_indexed_walk_is_pkilints_walk(build: Callable[[], validation.ValidatorContainer], document_loader: Any,
                                       der: Callable[[], bytes]) -> None:
    document = der()
    indexed = index(build())
    for _ in range(2):  # the second pass answers from the memo
        expected = _summary(build().validate(document_loader().load_der_document(document, "d").root))
        assert _summary(indexed.validate(document_loader().load_der_document(document, "d").root)) == expected


def test_some_cases_have_error_findings() -> None:
    container = new_certificate_validator(Profile.PKIX)
    results = container.validate(loader.RFC5280CertificateDocumentLoader().load_der_document(
        _certificate("", ["a..b"]), "d").root)
    assert any(d.finding.severity.name == "ERROR" for r in results for d in r.finding_descriptions)


def test_remembered_syntax_checks_answer_as_pkilint() -> None:
    """URI, domain and e-mail syntax answered from the memo are pkilint's answers, and a bad
    URL still gives its finding every time it is linted."""
    import validators
    from pkilint.pkix import general_name

    from appliance.lint.dispatch import remember_syntax_checks
    from appliance.lint.findings import lint_certificate

    remember_syntax_checks()
    remember_syntax_checks()  # idempotent: one memo
    predicate = general_name.validators_predicate
    original = predicate.__wrapped__  # type: ignore[attr-defined]
    assert not hasattr(original, "cache_info")
    hits = predicate.cache_info().hits  # type: ignore[attr-defined]
    values = ["http://a..b/crl", "http://ca.example/crl", "a..b", "host.example", "x@y.example", "bad@", "ldap://x"]
    for check in (validators.url, validators.domain, validators.email):
        for value in values:
            assert predicate(check, value) == original(check, value) == predicate(check, value)
    assert predicate.cache_info().hits - hits >= 21  # type: ignore[attr-defined]
    bad = _certificate("x", ["localhost"], extra=True)
    for _ in range(2):
        assert "pkix.invalid_uri_syntax" in {f.code for f in lint_certificate(bad)}
