"""Renew, rekey, renew tokens, revoke and the CRL."""

from __future__ import annotations

import base64
import datetime
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from jwcrypto.jwk import JWK

from appliance.authority.authority import Authority
from appliance.authority.interfaces import IssuedCertificate, RevokeRequest, SignRequest
from appliance.db import open_database
from appliance.errors import BadRequest, NotImplementedFeature, Unauthorized
from appliance.jose import sign
from appliance.provisioner import ProvisionerExtension
from tests.ca_fixtures import TestCA, build_ca, make_csr, new_key
from tests.conftest import run_openssl
from tests.db.conftest import DbConfigFactory, db_config, mysql_config, postgres_config, sqlite_config  # noqa: F401

CA = tuple[Authority, TestCA]


def _issue(authority: Authority, ca: TestCA, subject: str = "host.test", **kw: object):  # type: ignore[no-untyped-def]
    key = new_key()
    csr, _ = make_csr(subject, [subject, "alt." + subject], key)
    issued = authority.sign(SignRequest(csr=csr, token=ca.token(subject, sans=[subject, "alt." + subject]), **kw))  # type: ignore[arg-type]
    return issued, key


def _revoke_token(ca: TestCA, serial: int | str) -> str:
    return ca.token(str(serial), endpoint="revoke")


def _renew_token(ca: TestCA, issued: IssuedCertificate, key: object, *, aud: str | None = None,
                 lifetime: int = 300, jti: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": "step-ca-client/1.0", "sub": "host.test", "aud": aud or ca.audience("renew"),
              "nbf": now, "iat": now, "exp": now + lifetime, "jti": jti or uuid.uuid4().hex}
    x5c = [base64.b64encode(issued.certificate.public_bytes(serialization.Encoding.DER)).decode()]
    return sign(claims, JWK.from_pyca(key), headers={"x5c": x5c})


def test_renew_keeps_subject_names_key_and_provisioner(ca: CA, tmp_path: Path) -> None:
    authority, test_ca = ca
    issued, _ = _issue(authority, test_ca)
    old = issued.certificate
    new = authority.renew(old).certificate
    assert new.serial_number != old.serial_number
    assert new.subject == old.subject
    assert new.public_key() == old.public_key()
    assert (new.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            == old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    assert ProvisionerExtension.from_certificate(new) == ProvisionerExtension.from_certificate(old)
    assert new.not_valid_after_utc - new.not_valid_before_utc == old.not_valid_after_utc - old.not_valid_before_utc
    assert new.not_valid_after_utc >= old.not_valid_after_utc
    assert authority.database.get_certificate(str(new.serial_number)) is not None
    leaf = tmp_path / "renewed.pem"
    leaf.write_bytes(new.public_bytes(serialization.Encoding.PEM))
    run_openssl("verify", "-CAfile", test_ca.root_path, "-untrusted", test_ca.intermediate_path, leaf)


def test_rekey_uses_the_new_key(ca: CA) -> None:
    authority, test_ca = ca
    issued, _ = _issue(authority, test_ca)
    rsa_key = new_key("RSA")
    csr, _ = make_csr("host.test", ["host.test"], rsa_key)
    new = authority.rekey(issued.certificate, csr).certificate
    assert new.public_key() == rsa_key.public_key()
    assert new.subject == issued.certificate.subject
    assert new.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
    ski = new.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(rsa_key.public_key())  # type: ignore[arg-type]


def test_revoke_by_token_then_renew_refused(ca: CA) -> None:
    authority, test_ca = ca
    issued, _ = _issue(authority, test_ca)
    serial = issued.certificate.serial_number
    authority.revoke(RevokeRequest(serial=str(serial), reason_code=1, reason="key lost", token=_revoke_token(test_ca, serial)))
    record = authority.database.get_revocation(str(serial))
    assert record is not None and record.passive and not record.mtls and record.reason_code == 1
    with pytest.raises(Unauthorized, match="revoked"):
        authority.renew(issued.certificate)


def test_revoke_token_must_name_the_serial_and_audience(ca: CA) -> None:
    authority, test_ca = ca
    issued, _ = _issue(authority, test_ca)
    serial = str(issued.certificate.serial_number)
    with pytest.raises(Unauthorized, match="serial"):
        authority.revoke(RevokeRequest(serial=serial, token=_revoke_token(test_ca, 12345)))
    with pytest.raises(Unauthorized, match="audience"):
        authority.revoke(RevokeRequest(serial=serial, token=test_ca.token(serial)))
    token = _revoke_token(test_ca, serial)
    authority.revoke(RevokeRequest(serial=hex(int(serial)), token=token))
    with pytest.raises(Unauthorized, match="already used"):
        authority.revoke(RevokeRequest(serial=serial, token=token))


def test_revoke_by_client_certificate(ca: CA) -> None:
    authority, test_ca = ca
    issued, _ = _issue(authority, test_ca)
    other, _ = _issue(authority, test_ca, "other.test")
    with pytest.raises(Unauthorized, match="serial"):
        authority.revoke(RevokeRequest(serial=str(other.certificate.serial_number), client_certificate=issued.certificate))
    authority.revoke(RevokeRequest(serial=str(issued.certificate.serial_number), client_certificate=issued.certificate))
    record = authority.database.get_revocation(str(issued.certificate.serial_number))
    assert record is not None and record.mtls and record.provisioner == test_ca.provisioner


@pytest.mark.parametrize(("request_args", "error"), [
    ({"serial": "abc"}, BadRequest),
    ({"serial": "-5"}, BadRequest),
    ({"serial": "5", "reason_code": 7}, BadRequest),
    ({"serial": "5", "passive": False}, BadRequest),
    ({"serial": "5"}, Unauthorized),
])
def test_revoke_request_checks(ca: CA, request_args: dict, error: type[Exception]) -> None:
    authority, _ = ca
    with pytest.raises(error):
        authority.revoke(RevokeRequest(**request_args))


def test_renew_of_foreign_certificate_refused(make_authority: Callable[..., CA]) -> None:
    first, first_ca = make_authority()
    second, _ = make_authority()
    issued, _ = _issue(first, first_ca)
    with pytest.raises(Unauthorized, match="not issued by this CA"):
        second.renew(issued.certificate)


def test_disable_renewal(make_authority: Callable[..., CA]) -> None:
    authority, test_ca = make_authority(provisioner={"claims": {"disableRenewal": True}})
    issued, _ = _issue(authority, test_ca)
    with pytest.raises(Unauthorized, match="disabled"):
        authority.renew(issued.certificate)


@pytest.mark.parametrize("allow", [False, True])
def test_renewal_after_expiry(make_authority: Callable[..., CA], allow: bool) -> None:
    authority, test_ca = make_authority(provisioner={"claims": {"allowRenewalAfterExpiry": allow}})
    issued, _ = _issue(authority, test_ca)
    later = issued.certificate.not_valid_after_utc + datetime.timedelta(hours=1)
    two_days_on = Authority(test_ca.config(), authority.database, test_ca.intermediate_key,
                            roots=[test_ca.root], intermediates=[test_ca.intermediate], now=lambda: later)
    if allow:
        assert two_days_on.renew(issued.certificate).certificate.not_valid_after_utc > later
    else:
        with pytest.raises(Unauthorized, match="expired"):
            two_days_on.renew(issued.certificate)


def test_renew_token(ca: CA) -> None:
    authority, test_ca = ca
    issued, key = _issue(authority, test_ca)
    token = _renew_token(test_ca, issued, key)
    assert authority.authorize_renew_token(token) == issued.certificate
    with pytest.raises(Unauthorized, match="already used"):
        authority.authorize_renew_token(token)
    assert authority.renew(issued.certificate).certificate


@pytest.mark.parametrize(("change", "message"), [
    ({"aud": "https://ca.test/1.0/sign"}, "audience"),
    ({"lifetime": 3600}, "5 minutes"),
    ({"wrong_key": True}, "signature"),
])
def test_renew_token_failures(ca: CA, change: dict, message: str) -> None:
    authority, test_ca = ca
    issued, key = _issue(authority, test_ca)
    signing_key = new_key() if change.pop("wrong_key", False) else key
    with pytest.raises(Unauthorized, match=message):
        authority.authorize_renew_token(_renew_token(test_ca, issued, signing_key, **change))


def test_renew_token_for_foreign_or_unrecorded_certificate(make_authority: Callable[..., CA]) -> None:
    first, first_ca = make_authority()
    second, second_ca = make_authority()
    issued, key = _issue(first, first_ca)
    with pytest.raises(Unauthorized, match="not issued by this CA"):
        second.authorize_renew_token(_renew_token(second_ca, issued, key))
    with pytest.raises(Unauthorized, match="x5c"):
        first.authorize_renew_token(first_ca.token("host.test", endpoint="renew"))


def test_crl_disabled_by_default(ca: CA) -> None:
    with pytest.raises(NotImplementedFeature):
        ca[0].crl()


def test_crl_lists_revocations_and_verifies(make_authority: Callable[..., CA], tmp_path: Path) -> None:
    authority, test_ca = make_authority(crl={"enabled": True})
    issued, _ = _issue(authority, test_ca)
    serial = issued.certificate.serial_number
    empty = x509.load_der_x509_crl(authority.crl())
    assert len(empty) == 0
    authority.revoke(RevokeRequest(serial=str(serial), reason_code=4, token=_revoke_token(test_ca, serial)))
    der = authority.crl()
    crl = x509.load_der_x509_crl(der)
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.superseded
    assert crl.is_signature_valid(test_ca.intermediate.public_key())  # type: ignore[arg-type]
    path = tmp_path / "ca.crl"
    path.write_bytes(der)
    out = run_openssl("crl", "-inform", "DER", "-in", path, "-CAfile", test_ca.intermediate_path, "-verify", "-noout", "-text")
    assert "verify OK" in out.stderr + out.stdout
    assert f"{serial:X}" in out.stdout.replace(":", "").upper() or format(serial, "X") in out.stdout


def test_crl_lists_another_instances_revocation_at_once(db_config: DbConfigFactory, tmp_path: Path) -> None:
    """Two instances (or workers) on one database: B's cached CRL is replaced as soon as
    A records a revocation, and served again while nothing is revoked."""
    test_ca = build_ca(tmp_path, crl={"enabled": True, "cacheDuration": "24h"})
    config, shared = test_ca.config(), db_config()
    a, b = (Authority.from_config(config, open_database(shared), password=test_ca.password) for _ in range(2))
    try:
        issued, _ = _issue(a, test_ca)
        serial = issued.certificate.serial_number
        cached = b.crl()
        assert len(x509.load_der_x509_crl(cached)) == 0
        assert b.crl() == cached
        a.revoke(RevokeRequest(serial=str(serial), reason_code=1, token=_revoke_token(test_ca, serial)))
        assert x509.load_der_x509_crl(b.crl()).get_revoked_certificate_by_serial_number(serial) is not None
        assert b.crl() == b.crl()
    finally:
        for authority in (a, b):
            authority.close()
            authority.database.close()


def test_discovery(ca: CA) -> None:
    authority, test_ca = ca
    assert authority.roots() == [test_ca.root]
    assert authority.intermediates() == [test_ca.intermediate]
    assert authority.federated_roots() == [test_ca.root]
    listed, cursor = authority.provisioners()
    assert cursor == "" and listed[0]["name"] == test_ca.provisioner and "encryptedKey" in listed[0]
    assert authority.encrypted_key(test_ca.provisioner_key.get("kid")) == listed[0]["encryptedKey"]


STEP_PROVISIONER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")


def _has_provisioner_extension(certificate: x509.Certificate) -> bool:
    return any(extension.oid == STEP_PROVISIONER_OID for extension in certificate.extensions)


@pytest.mark.parametrize(("authority_claims", "provisioner_claims", "left_out"), [
    ({"disableSmallstepExtensions": True}, {}, True),
    ({}, {"disableSmallstepExtensions": True}, True),
    ({"disableSmallstepExtensions": True}, {"disableSmallstepExtensions": False}, False),
])
def test_disable_smallstep_extensions_leaves_the_extension_out_and_renewal_still_works(
        make_authority: Callable[..., CA], authority_claims: dict, provisioner_claims: dict, left_out: bool) -> None:
    """step-ca's claim, authority-wide or per provisioner (the provisioner's wins); renewal
    then finds the provisioner through the certificate's database record, as step-ca does."""
    authority, test_ca = make_authority(authority={"claims": authority_claims}, provisioner={"claims": provisioner_claims})
    issued, key = _issue(authority, test_ca)
    assert _has_provisioner_extension(issued.certificate) is not left_out
    assert authority.authorize_renew_token(_renew_token(test_ca, issued, key)) == issued.certificate
    renewed = authority.renew(issued.certificate).certificate
    assert _has_provisioner_extension(renewed) is not left_out
    assert authority.renew(renewed).certificate.subject == issued.certificate.subject  # the renewal renews too


def test_without_the_extension_the_provisioners_renewal_claims_still_apply(make_authority: Callable[..., CA]) -> None:
    authority, test_ca = make_authority(provisioner={"claims": {"disableSmallstepExtensions": True,
                                                                "disableRenewal": True}})
    issued, _ = _issue(authority, test_ca)
    with pytest.raises(Unauthorized, match="disabled"):
        authority.renew(issued.certificate)
