from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import ExtendedKeyUsageOID

from appliance.authority.authority import Authority
from appliance.authority.interfaces import IssuedCertificate, SignRequest
from appliance.authority.leaf import IssuanceFailed
from appliance.errors import BadRequest, Forbidden, Unauthorized
from appliance.jose import generate_jwk
from appliance.kms.signer import device_private_key
from appliance.provisioner import PROVISIONER_OID, ProvisionerExtension
from tests.ca_fixtures import TestCA, make_csr, new_key
from tests.conftest import run_openssl

CA = tuple[Authority, TestCA]
H = datetime.timedelta(hours=1)


def _sign(authority: Authority, ca: TestCA, subject: str = "host.test", names: list[str] | None = None,
          token: str | None = None, key_kind: str = "EC", **kw: object) -> IssuedCertificate:
    csr, _ = make_csr(subject, names, new_key(key_kind))
    return authority.sign(SignRequest(csr=csr, token=token or ca.token(subject, sans=names), **kw))  # type: ignore[arg-type]


def _openssl_verify(ca: TestCA, issued: IssuedCertificate, tmp_path: Path) -> None:
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
    run_openssl("verify", "-CAfile", ca.root_path, "-untrusted", ca.intermediate_path, leaf)


@pytest.mark.parametrize("key_kind", ["EC", "EC384", "RSA", "Ed25519"])
def test_issue_each_key_type_and_verify_with_openssl(ca: CA, key_kind: str, tmp_path: Path) -> None:
    authority, test_ca = ca
    issued = _sign(authority, test_ca, "host.test", ["host.test", "10.0.0.7"], key_kind=key_kind)
    _openssl_verify(test_ca, issued, tmp_path)
    cert = issued.certificate
    assert issued.chain == (test_ca.intermediate,)
    assert cert.subject.rfc4514_string() == "CN=host.test"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["host.test"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment is (key_kind == "RSA")
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = test_ca.intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert 0 < cert.serial_number < 2**127
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == 24 * H + datetime.timedelta(minutes=1)


def test_an_ml_dsa_key_under_a_classic_intermediate(ca: CA, tmp_path: Path) -> None:
    """OpenSSL 3.0 cannot read an ML-DSA subject key, so ``openssl verify`` is out: it checks the
    intermediate's ECDSA signature over the TBS bytes instead, and ``cryptography`` the path."""
    from cryptography.hazmat.primitives.asymmetric import mldsa
    from cryptography.x509.verification import PolicyBuilder, Store

    authority, test_ca = ca
    cert = _sign(authority, test_ca, "pq.test", ["pq.test"], key_kind="ML-DSA-65").certificate
    assert isinstance(cert.public_key(), mldsa.MLDSA65PublicKey)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_encipherment  # RFC 9881 section 5
    (tmp_path / "tbs").write_bytes(cert.tbs_certificate_bytes)
    (tmp_path / "sig").write_bytes(cert.signature)
    (tmp_path / "issuer.pem").write_bytes(test_ca.intermediate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    run_openssl("dgst", "-sha256", "-verify", tmp_path / "issuer.pem", "-signature", tmp_path / "sig", tmp_path / "tbs")
    verifier = (PolicyBuilder().store(Store([test_ca.root])).time(cert.not_valid_before_utc)
                .build_server_verifier(x509.DNSName("pq.test")))
    assert verifier.verify(cert, [test_ca.intermediate])[-1] == test_ca.root


def test_issued_certificate_is_recorded(ca: CA) -> None:
    authority, test_ca = ca
    issued = _sign(authority, test_ca, "rec.test", ["rec.test", "alt.rec.test"])
    record = authority.database.get_certificate(str(issued.certificate.serial_number))
    assert record is not None
    assert record.subject == "CN=rec.test"
    assert set(record.sans) == {"rec.test", "alt.rec.test"}
    assert record.provisioner == test_ca.provisioner
    assert x509.load_pem_x509_certificate(record.pem.encode()) == issued.certificate
    assert record.not_after == issued.certificate.not_valid_after_utc


def test_provisioner_extension_decodes(ca: CA, tmp_path: Path) -> None:
    authority, test_ca = ca
    cert = _sign(authority, test_ca).certificate
    ext = cert.extensions.get_extension_for_oid(PROVISIONER_OID)
    assert not ext.critical
    decoded = ProvisionerExtension.from_certificate(cert)
    assert decoded == ProvisionerExtension(1, test_ca.provisioner, test_ca.provisioner_key.get("kid"))
    der = tmp_path / "ext.der"
    der.write_bytes(ext.value.value)
    parsed = run_openssl("asn1parse", "-inform", "DER", "-in", der).stdout
    assert "INTEGER           :01" in parsed
    assert f"OCTET STRING      :{test_ca.provisioner}" in parsed
    assert f"OCTET STRING      :{test_ca.provisioner_key.get('kid')}" in parsed


def test_sub_is_the_only_name_without_sans(ca: CA) -> None:
    authority, test_ca = ca
    csr, _ = make_csr("only.test", ["only.test"])
    cert = authority.sign(SignRequest(csr=csr, token=test_ca.token("only.test"))).certificate
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["only.test"]
    csr, _ = make_csr("only.test", ["only.test", "extra.test"])
    with pytest.raises(Forbidden, match="extra.test"):
        authority.sign(SignRequest(csr=csr, token=test_ca.token("only.test")))


def test_csr_without_sans_gets_the_token_names(ca: CA) -> None:
    authority, test_ca = ca
    csr, _ = make_csr("bare.test", [])
    cert = authority.sign(SignRequest(csr=csr, token=test_ca.token("bare.test", sans=["bare.test", "b2.test"]))).certificate
    assert set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)) == {"bare.test", "b2.test"}


@dataclass(frozen=True)
class Ago:
    """A token time given as seconds before the test runs."""

    seconds: float


@pytest.mark.parametrize(("token_args", "error", "message"), [
    ({"endpoint": "revoke"}, Unauthorized, "audience"),
    ({"audience": "https://evil.test/1.0/sign"}, Unauthorized, "audience"),
    ({"not_before": Ago(400), "lifetime": 300}, Unauthorized, "expired"),
    ({"sha": "00" * 32}, Unauthorized, "fingerprint"),
    ({"lifetime": 3600}, Unauthorized, "5 minutes"),
    ({"issuer": "nobody"}, Unauthorized, "no provisioner"),
    ({"key": generate_jwk()}, Unauthorized, "no provisioner"),
    ({"issued_at": Ago(3600), "not_before": Ago(0)}, Unauthorized, "before the CA started"),
    ({"sans": ["other.test"]}, Forbidden, "host.test"),
])
def test_token_failures(ca: CA, token_args: dict, error: type[Exception], message: str) -> None:
    authority, test_ca = ca
    csr, _ = make_csr("host.test", ["host.test"])
    now = time.time()  # when the test runs, not when it was collected
    args = {name: now - value.seconds if isinstance(value, Ago) else value for name, value in token_args.items()}
    with pytest.raises(error, match=message):
        authority.sign(SignRequest(csr=csr, token=test_ca.token("host.test", **args)))


def test_token_signed_by_other_key_with_right_kid_refused(ca: CA) -> None:
    authority, test_ca = ca
    impostor = generate_jwk()
    forged = test_ca.token("host.test")  # right kid in header...
    header, payload, _ = forged.split(".")
    other = test_ca.token("host.test", key=impostor).split(".")[2]  # ...wrong signature
    csr, _ = make_csr("host.test")
    with pytest.raises(Unauthorized, match="signature"):
        authority.sign(SignRequest(csr=csr, token=f"{header}.{payload}.{other}"))


@pytest.mark.parametrize("bad", ["", "not-a-token", "a.b.c", "x" * 70000])
def test_malformed_token_is_unauthorized(ca: CA, bad: str) -> None:
    authority, _ = ca
    csr, _ = make_csr("host.test")
    with pytest.raises(Unauthorized, match="malformed"):
        authority.sign(SignRequest(csr=csr, token=bad))


def test_replay_refused_and_nothing_recorded(ca: CA) -> None:
    authority, test_ca = ca
    token = test_ca.token("host.test")
    _sign(authority, test_ca, token=token)
    with pytest.raises(Unauthorized, match="already used"):
        _sign(authority, test_ca, token=token)


def test_failed_issuance_does_not_burn_the_token(ca: CA, monkeypatch: pytest.MonkeyPatch) -> None:
    """The token is marked used in the transaction that records the certificate: a
    certificate that does not verify leaves neither behind."""
    authority, test_ca = ca
    token = test_ca.token("host.test")
    verify = authority.leaf_signer.verify

    def fails(certificate: x509.Certificate) -> None:
        raise IssuanceFailed("does not verify")

    monkeypatch.setattr(authority.leaf_signer, "verify", fails)
    with pytest.raises(IssuanceFailed):
        _sign(authority, test_ca, token=token)
    monkeypatch.setattr(authority.leaf_signer, "verify", verify)
    assert _sign(authority, test_ca, token=token).certificate


def test_bad_csr_does_not_burn_the_token(ca: CA) -> None:
    authority, test_ca = ca
    token = test_ca.token("host.test")
    csr, _ = make_csr("host.test", ["host.test", "evil.test"])
    with pytest.raises(Forbidden):
        authority.sign(SignRequest(csr=csr, token=token))
    assert _sign(authority, test_ca, token=token).certificate


def test_common_name_must_be_authorised(ca: CA) -> None:
    authority, test_ca = ca
    csr, _ = make_csr("evil.test", ["host.test"])
    with pytest.raises(Forbidden, match="common name"):
        authority.sign(SignRequest(csr=csr, token=test_ca.token("host.test")))


def test_csr_signature_must_verify(ca: CA) -> None:
    authority, test_ca = ca
    good, _ = make_csr("host.test")
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF
    tampered = x509.load_der_x509_csr(bytes(der))
    with pytest.raises(BadRequest, match="signature"):
        authority.sign(SignRequest(csr=tampered, token=test_ca.token("host.test")))


def test_weak_rsa_key_forbidden(ca: CA) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    authority, test_ca = ca
    csr, _ = make_csr("host.test", key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(Forbidden, match="2048"):
        authority.sign(SignRequest(csr=csr, token=test_ca.token("host.test")))


def test_duration_bounds(make_authority: Callable[..., CA]) -> None:
    authority, test_ca = make_authority(authority={"claims": {"maxTLSCertDuration": "48h"}},
                                        provisioner={"claims": {"defaultTLSCertDuration": "2h"}})
    now = datetime.datetime.now(datetime.timezone.utc)
    default = _sign(authority, test_ca).certificate
    assert abs((default.not_valid_after_utc - now) - 2 * H) < datetime.timedelta(seconds=5)
    long = _sign(authority, test_ca, not_after=now + 40 * H).certificate
    assert abs((long.not_valid_after_utc - now) - 40 * H) < datetime.timedelta(seconds=5)
    with pytest.raises(Forbidden, match="maximum"):
        _sign(authority, test_ca, not_after=now + 49 * H)
    with pytest.raises(Forbidden, match="minimum"):
        _sign(authority, test_ca, not_after=now + datetime.timedelta(minutes=2))
    later = now + H
    exact = _sign(authority, test_ca, not_before=later, not_after=later + 3 * H).certificate
    assert exact.not_valid_before_utc == later.replace(microsecond=0)


def test_disable_issued_at_check(make_authority: Callable[..., CA]) -> None:
    authority, test_ca = make_authority(authority={"disableIssuedAtCheck": True})
    token = test_ca.token("host.test", issued_at=time.time() - 3600, not_before=time.time())
    assert _sign(authority, test_ca, token=token).certificate


def test_issued_at_is_checked_against_the_given_start(ca: CA) -> None:
    """``appliance serve`` passes its own start to every worker: a token issued after
    it is accepted however late the authority itself was built, one before it is not."""
    authority, test_ca = ca
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - H
    late = Authority(test_ca.config(), authority.database, test_ca.intermediate_key, roots=[test_ca.root],
                     intermediates=[test_ca.intermediate], started_at=started)
    assert late.started_at == started
    after = test_ca.token("host.test", issued_at=started.timestamp() + 60, not_before=time.time())
    assert _sign(late, test_ca, token=after).certificate
    before = test_ca.token("host.test", issued_at=started.timestamp() - 1, not_before=time.time())
    with pytest.raises(Unauthorized, match="before the CA started"):
        _sign(late, test_ca, token=before)


class _Device:
    """A DeviceKey that signs with a key in memory, as a PKCS#11 token would."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key

    def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: object) -> bytes:
        return self.key.sign(digest, ec.ECDSA(utils.Prehashed(algorithm)))

    def sign_message(self, message: bytes) -> bytes:
        raise NotImplementedError


def test_only_a_key_of_this_process_signs_in_process(ca: CA) -> None:
    """The API runs issuance on its event loop then; with a device key only its device call leaves it."""
    authority, test_ca = ca
    assert authority.signs_in_process and not authority.signs_on_device
    device = device_private_key(test_ca.intermediate.public_key(), _Device(test_ca.intermediate_key))  # type: ignore[arg-type]
    on_device = Authority(test_ca.config(), authority.database, device, roots=[test_ca.root],
                          intermediates=[test_ca.intermediate])
    assert not on_device.signs_in_process and on_device.signs_on_device
    assert _sign(on_device, test_ca).certificate


def test_server_certificate_for_the_ca_itself(ca: CA, tmp_path: Path) -> None:
    authority, test_ca = ca
    issued = authority.issue_server_certificate(new_key().public_key())  # type: ignore[arg-type]
    _openssl_verify(test_ca, issued, tmp_path)
    san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == set(test_ca.dns_names)
