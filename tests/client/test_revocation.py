"""What the client believes of a CRL or an OCSP response: only what the issuer (or a
responder certificate it issued for OCSP signing) signed, and only while current."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.client.revocation import (RevocationCheckFailed, crl_status, distribution_points, ocsp_request,
                                         ocsp_responders, ocsp_status, parse_serial_number, verified_crl)

NOW = datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.timezone.utc)
HOUR = datetime.timedelta(hours=1)


def _certificate(name: str, key: ec.EllipticCurvePrivateKey, issuer_key: ec.EllipticCurvePrivateKey,
                 issuer_name: str, *extensions: x509.ExtensionType) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - HOUR).not_valid_after(NOW + 24 * HOUR))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())
ISSUER = _certificate("Issuer", ISSUER_KEY, ISSUER_KEY, "Issuer")
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def _crl(key: ec.EllipticCurvePrivateKey, *, next_update: datetime.datetime, revoked: int | None = None) -> bytes:
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ISSUER.subject)
               .last_update(NOW - HOUR).next_update(next_update))
    if revoked is not None:
        entry = (x509.RevokedCertificateBuilder().serial_number(revoked).revocation_date(NOW - HOUR)
                 .add_extension(x509.CRLReason(x509.ReasonFlags.superseded), critical=False).build())
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_crl_statuses() -> None:
    crl = verified_crl(_crl(ISSUER_KEY, next_update=NOW + HOUR, revoked=7), ISSUER, NOW)
    assert crl_status(crl, 8).status == "good"
    revoked = crl_status(crl, 7)
    assert revoked.status == "revoked" and revoked.reason == "superseded"


@pytest.mark.parametrize(("der", "message"), [
    (_crl(OTHER_KEY, next_update=NOW + HOUR), "not signed by the issuer"),
    (_crl(ISSUER_KEY, next_update=NOW - datetime.timedelta(seconds=1)), "stale"),
    (b"\x30\x00", "malformed"),
])
def test_crl_not_believed(der: bytes, message: str) -> None:
    with pytest.raises(RevocationCheckFailed, match=message):
        verified_crl(der, ISSUER, NOW)


def _response(serial: int, key: ec.EllipticCurvePrivateKey, responder: x509.Certificate, *,
              status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD, next_update: datetime.datetime = NOW + HOUR,
              certificates: list[x509.Certificate] | None = None) -> bytes:
    request = ocsp.load_der_ocsp_request(ocsp_request(serial, ISSUER))
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        request.issuer_name_hash, request.issuer_key_hash, serial, hashes.SHA1(), status, NOW - HOUR, next_update,
        NOW - HOUR if status == ocsp.OCSPCertStatus.REVOKED else None,
        x509.ReasonFlags.key_compromise if status == ocsp.OCSPCertStatus.REVOKED else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
    if certificates:
        builder = builder.certificates(certificates)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_ocsp_signed_by_the_issuer_or_its_delegated_responder() -> None:
    assert ocsp_status(_response(5, ISSUER_KEY, ISSUER), 5, ISSUER, NOW).status == "good"
    revoked = ocsp_status(_response(5, ISSUER_KEY, ISSUER, status=ocsp.OCSPCertStatus.REVOKED), 5, ISSUER, NOW)
    assert revoked.status == "revoked" and revoked.reason == "key_compromise"
    responder_key = ec.generate_private_key(ec.SECP256R1())
    delegated = _certificate("Responder", responder_key, ISSUER_KEY, "Issuer",
                             x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]))
    der = _response(5, responder_key, delegated, certificates=[delegated])
    assert ocsp_status(der, 5, ISSUER, NOW).status == "good"


def test_ocsp_not_believed() -> None:
    stranger = _certificate("Issuer", OTHER_KEY, OTHER_KEY, "Issuer")
    no_eku_key = ec.generate_private_key(ec.SECP256R1())
    no_eku = _certificate("Responder", no_eku_key, ISSUER_KEY, "Issuer")
    cases = [
        (_response(5, OTHER_KEY, stranger), 5, "not signed"),
        (_response(5, no_eku_key, no_eku, certificates=[no_eku]), 5, "not signed"),
        (_response(6, ISSUER_KEY, ISSUER), 5, "another serial"),
        (_response(5, ISSUER_KEY, ISSUER, next_update=NOW - HOUR / 2), 5, "not current"),
        (ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
         .public_bytes(serialization.Encoding.DER), 5, "UNAUTHORIZED"),
        (b"garbage", 5, "malformed"),
    ]
    for der, serial, message in cases:
        with pytest.raises(RevocationCheckFailed, match=message):
            ocsp_status(der, serial, ISSUER, NOW)


@pytest.mark.parametrize(("text", "number"), [("255", 255), ("0xff", 255), ("0XFF", 255)])
def test_serial_numbers(text: str, number: int) -> None:
    assert parse_serial_number(text) == number


@pytest.mark.parametrize("text", ["", "0", "-1", "ff", "0x", "1" * 60])
def test_bad_serial_numbers(text: str) -> None:
    with pytest.raises(Exception, match="not a serial number"):
        parse_serial_number(text)


def test_urls_named_in_a_certificate() -> None:
    assert distribution_points(ISSUER) == [] and ocsp_responders(ISSUER) == []
    cdp = x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier("http://ca/crl")], relative_name=None, reasons=None, crl_issuer=None)])
    aia = x509.AuthorityInformationAccess([x509.AccessDescription(
        x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://ca/ocsp"))])
    leaf = _certificate("Leaf", OTHER_KEY, ISSUER_KEY, "Issuer", cdp, aia)
    assert distribution_points(leaf) == ["http://ca/crl"] and ocsp_responders(leaf) == ["http://ca/ocsp"]
