"""The OCSP responder in process: statuses, nonces, caching against revocations,
error statuses for bad requests, and a check of every signature it makes.
Requests are made by openssl (an independent encoder) where it can make them."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from appliance.authority.authority import Authority
from appliance.authority.interfaces import RevokeRequest, SignRequest
from appliance.authority.leaf import IssuanceFailed
from appliance.authority.ocsp import OcspResponder, ResponderDelegate
from appliance.config import OcspConfig
from appliance.db import open_database
from appliance.errors import NotImplementedFeature
from tests.ca_fixtures import PASSWORD, TestCA, encrypted_pem, make_csr, new_key
from tests.conftest import run_openssl

CA = tuple[Authority, TestCA]


@pytest.fixture
def ocsp_ca(make_authority) -> CA:  # type: ignore[no-untyped-def]
    return make_authority(ocsp={"enabled": True, "validity": "1h"})


def _issue(authority: Authority, ca: TestCA, subject: str = "host.test") -> x509.Certificate:
    csr, _ = make_csr(subject, [subject], new_key())
    return authority.sign(SignRequest(csr=csr, token=ca.token(subject, sans=[subject]))).certificate


def _request(certificate: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None = None,
             algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _verified(der: bytes, issuer: x509.Certificate) -> ocsp.OCSPResponse:
    response = ocsp.load_der_ocsp_response(der)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    issuer.public_key().verify(response.signature, response.tbs_response_bytes,  # type: ignore[call-arg]
                               *_ecdsa(response))
    return response


def _ecdsa(response: ocsp.OCSPResponse) -> tuple[object, ...]:
    return (ec.ECDSA(response.signature_hash_algorithm),)  # type: ignore[arg-type]


def _revoke(authority: Authority, ca: TestCA, serial: int, reason_code: int = 1) -> None:
    authority.revoke(RevokeRequest(serial=str(serial), reason_code=reason_code, reason="test",
                                   token=ca.token(str(serial), endpoint="revoke")))


def test_good_then_revoked_at_the_next_request(ocsp_ca: CA) -> None:
    authority, ca = ocsp_ca
    certificate = _issue(authority, ca)
    good = _verified(authority.ocsp(_request(certificate, ca.intermediate)), ca.intermediate)
    assert good.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert good.serial_number == certificate.serial_number
    assert good.next_update_utc - good.this_update_utc == datetime.timedelta(hours=1)  # type: ignore[operator]
    # A second request is the cached response, byte for byte.
    assert authority.ocsp(_request(certificate, ca.intermediate)) == authority.ocsp(_request(certificate, ca.intermediate))

    _revoke(authority, ca, certificate.serial_number, reason_code=1)
    revoked = _verified(authority.ocsp(_request(certificate, ca.intermediate)), ca.intermediate)
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.key_compromise
    assert revoked.revocation_time_utc is not None


def test_a_revocation_by_another_instance_is_seen_at_its_next_request(ocsp_ca: CA) -> None:
    authority, ca = ocsp_ca
    config = ca.config()
    other = Authority.from_config(config, open_database(config.db), password=ca.password)
    certificate = _issue(authority, ca)
    request = _request(certificate, ca.intermediate)
    assert _verified(other.ocsp(request), ca.intermediate).certificate_status == ocsp.OCSPCertStatus.GOOD
    _revoke(authority, ca, certificate.serial_number)
    try:
        assert _verified(other.ocsp(request), ca.intermediate).certificate_status == ocsp.OCSPCertStatus.REVOKED
    finally:
        other.close()
        other.database.close()


def test_unknown_serial(ocsp_ca: CA) -> None:
    authority, ca = ocsp_ca
    stranger = _issue(authority, ca)
    forged = x509.CertificateBuilder().subject_name(stranger.subject).issuer_name(stranger.issuer) \
        .public_key(stranger.public_key()).serial_number(12345).not_valid_before(stranger.not_valid_before_utc) \
        .not_valid_after(stranger.not_valid_after_utc).sign(ca.intermediate_key, hashes.SHA256())  # type: ignore[arg-type]
    response = _verified(authority.ocsp(_request(forged, ca.intermediate)), ca.intermediate)
    assert response.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def test_nonce_is_echoed_and_never_cached(ocsp_ca: CA) -> None:
    authority, ca = ocsp_ca
    certificate = _issue(authority, ca)
    first = _verified(authority.ocsp(_request(certificate, ca.intermediate, nonce=b"1" * 16)), ca.intermediate)
    second = _verified(authority.ocsp(_request(certificate, ca.intermediate, nonce=b"2" * 16)), ca.intermediate)
    assert first.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"1" * 16
    assert second.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"2" * 16


@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
def test_other_request_hashes(ocsp_ca: CA, algorithm: hashes.HashAlgorithm) -> None:
    authority, ca = ocsp_ca
    certificate = _issue(authority, ca)
    response = _verified(authority.ocsp(_request(certificate, ca.intermediate, algorithm=algorithm)), ca.intermediate)
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response.hash_algorithm.name == algorithm.name


def _status(der: bytes) -> ocsp.OCSPResponseStatus:
    return ocsp.load_der_ocsp_response(der).response_status


@pytest.mark.parametrize("garbage", [b"", b"\x00", b"\x30\x03\x02\x01\x01", b"not der at all" * 100])
def test_garbage_is_malformed_request(ocsp_ca: CA, garbage: bytes) -> None:
    assert _status(ocsp_ca[0].ocsp(garbage)) == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def _openssl_request(tmp_path: Path, ca: TestCA, *args: str) -> bytes:
    out = tmp_path / "request.der"
    run_openssl("ocsp", "-issuer", ca.intermediate_path, *args, "-no_nonce", "-reqout", out)
    return out.read_bytes()


def test_openssl_request_for_two_certificates_is_malformed(ocsp_ca: CA, tmp_path: Path) -> None:
    authority, ca = ocsp_ca
    request = _openssl_request(tmp_path, ca, "-serial", "1", "-serial", "2")
    assert _status(authority.ocsp(request)) == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_openssl_request_with_an_unsupported_hash_is_malformed(ocsp_ca: CA, tmp_path: Path) -> None:
    authority, ca = ocsp_ca
    request = _openssl_request(tmp_path, ca, "-md5", "-serial", "1")
    assert _status(authority.ocsp(request)) == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_openssl_request_for_another_issuer_is_unauthorized(ocsp_ca: CA, tmp_path: Path) -> None:
    authority, ca = ocsp_ca
    request = _openssl_request(tmp_path, ca, "-serial", "1")
    other = tmp_path / "root.der"
    run_openssl("ocsp", "-issuer", ca.root_path, "-serial", "1", "-no_nonce", "-reqout", other)
    assert _status(authority.ocsp(other.read_bytes())) == ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert _status(authority.ocsp(request)) == ocsp.OCSPResponseStatus.SUCCESSFUL


def test_disabled_responder_refuses(make_authority) -> None:  # type: ignore[no-untyped-def]
    authority, ca = make_authority()
    certificate = _issue(authority, ca)
    with pytest.raises(NotImplementedFeature, match="ocsp.enabled"):
        authority.ocsp(_request(certificate, ca.intermediate))


class _WrongSignatures(ec.EllipticCurvePrivateKey):
    """A device that answers with a well-formed signature of other data."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    def sign(self, data: bytes, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        return self._key.sign(data + b"!", signature_algorithm)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._key.curve

    @property
    def key_size(self) -> int:
        return self._key.key_size

    def exchange(self, *args: object) -> bytes:
        raise NotImplementedError

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise NotImplementedError

    def private_bytes(self, *args: object) -> bytes:
        raise NotImplementedError

    def __copy__(self) -> _WrongSignatures:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _WrongSignatures:
        return self


def test_a_signature_that_does_not_verify_never_leaves(ocsp_ca: CA) -> None:
    authority, ca = ocsp_ca
    certificate = _issue(authority, ca)
    device = _WrongSignatures(ca.intermediate_key)  # type: ignore[arg-type]
    responder = OcspResponder(OcspConfig(enabled=True), ca.intermediate, device, authority.database,
                              lambda: datetime.datetime.now(datetime.timezone.utc))
    with pytest.raises(IssuanceFailed, match="does not verify"):
        responder.respond(_request(certificate, ca.intermediate))


def test_active_revocation_is_recorded_and_shows_in_ocsp_and_crl(make_authority) -> None:  # type: ignore[no-untyped-def]
    authority, ca = make_authority(ocsp={"enabled": True}, crl={"enabled": True})
    certificate = _issue(authority, ca)
    authority.revoke(RevokeRequest(serial=str(certificate.serial_number), reason_code=4, passive=False,
                                   token=ca.token(str(certificate.serial_number), endpoint="revoke")))
    record = authority.database.get_revocation(str(certificate.serial_number))
    assert record is not None and not record.passive
    response = _verified(authority.ocsp(_request(certificate, ca.intermediate)), ca.intermediate)
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason == x509.ReasonFlags.superseded
    crl = x509.load_der_x509_crl(authority.crl())
    assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None


def test_delegated_responder(make_authority, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    responder_key = new_key()
    key_file = tmp_path / "ocsp_responder_key"
    key_file.write_bytes(encrypted_pem(responder_key, PASSWORD))
    authority, ca = make_authority(ocsp={"enabled": True, "responderKey": str(key_file)})
    certificate = _issue(authority, ca)
    der = authority.ocsp(_request(certificate, ca.intermediate))
    response = ocsp.load_der_ocsp_response(der)
    (responder,) = response.certificates
    assert responder.public_key() == responder_key.public_key()
    responder.verify_directly_issued_by(ca.intermediate)
    assert responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING])
    assert responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert authority.database.get_certificate(str(responder.serial_number)) is not None  # recorded like any other
    _verified(der, responder)
    # openssl finds the responder in the response and chains it to the root through the intermediate.
    response_file = tmp_path / "response.der"
    response_file.write_bytes(der)
    result = run_openssl("ocsp", "-respin", response_file, "-issuer", ca.intermediate_path, "-CAfile", ca.root_path,
                         "-verify_other", ca.intermediate_path, "-serial", str(certificate.serial_number))
    assert "Response verify OK" in result.stderr and ": good" in result.stdout


def test_delegated_responder_certificate_renewed_at_half_life() -> None:
    key = new_key()
    issued: list[datetime.datetime] = []
    clock = [datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)]

    def issue(public_key: object) -> x509.Certificate:
        issued.append(clock[0])
        return (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(x509.Name([]))
                .public_key(public_key).serial_number(len(issued))  # type: ignore[arg-type]
                .not_valid_before(clock[0]).not_valid_after(clock[0] + datetime.timedelta(days=2))
                .sign(key, hashes.SHA256()))  # type: ignore[arg-type]

    delegate = ResponderDelegate(key, issue, lambda: clock[0])  # type: ignore[arg-type]
    first = delegate.certificate()
    clock[0] += datetime.timedelta(hours=23)
    assert delegate.certificate() is first
    clock[0] += datetime.timedelta(hours=1)
    assert delegate.certificate().serial_number == 2 and len(issued) == 2
