"""step-ca's ``crl`` block acts: ``idpURL`` (issuing distribution point, read back by
openssl), ``renewPeriod`` (when a CRL is renewed), ``generateOnRevoke: false`` (a
revocation waits for the next renewal); and lint-before-sign samples large CRLs."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography import x509

from appliance.authority import crl as crl_module
from appliance.authority.authority import Authority
from appliance.authority.interfaces import RevokeRequest, SignRequest
from appliance.config import ConfigError
from appliance.db import open_database
from tests.ca_fixtures import TestCA, build_ca, make_csr
from tests.conftest import run_openssl

Make = Callable[..., tuple[Authority, TestCA, list[datetime.datetime]]]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Make]:
    """An authority on a CA with ``crl`` as given and an injected clock (a one-item list)."""
    opened: list[Authority] = []

    def build(crl: dict[str, Any], **kwargs: Any) -> tuple[Authority, TestCA, list[datetime.datetime]]:
        test_ca = build_ca(tmp_path / f"ca{len(opened)}", crl={"enabled": True, **crl}, **kwargs)
        clock = [datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)]
        config = test_ca.config()
        authority = Authority(config, open_database(config.db), test_ca.intermediate_key,  # type: ignore[arg-type]
                              roots=[test_ca.root], intermediates=[test_ca.intermediate], now=lambda: clock[0],
                              started_at=clock[0] - datetime.timedelta(days=1))
        opened.append(authority)
        return authority, test_ca, clock

    yield build
    for authority in opened:
        authority.close()
        authority.database.close()


def _revoke(authority: Authority, test_ca: TestCA, clock: list[datetime.datetime]) -> int:
    csr, _ = make_csr("host.test")
    issued = authority.sign(SignRequest(csr=csr, token=test_ca.token("host.test", not_before=clock[0].timestamp())))
    serial = issued.certificate.serial_number
    authority.revoke(RevokeRequest(serial=str(serial), passive=True, token=test_ca.token(
        str(serial), endpoint="revoke", not_before=clock[0].timestamp())))
    return serial


def _number(der: bytes) -> int:
    return x509.load_der_x509_crl(der).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_idp_url_is_the_issuing_distribution_point(make: Make, tmp_path: Path) -> None:
    authority, test_ca, _ = make({"idpURL": "http://ca.example/crl"})
    der = authority.crl()
    idp = x509.load_der_x509_crl(der).extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical and idp.value.full_name == [x509.UniformResourceIdentifier("http://ca.example/crl")]
    path = tmp_path / "ca.crl"
    path.write_bytes(der)
    text = run_openssl("crl", "-inform", "DER", "-in", path, "-CAfile", test_ca.intermediate_path,
                       "-noout", "-text").stdout
    assert "Issuing Distribution Point" in text and "URI:http://ca.example/crl" in text


def test_renew_period(make: Make) -> None:
    authority, _, clock = make({"cacheDuration": "3h", "renewPeriod": "1h"})
    first = _number(authority.crl())
    clock[0] += datetime.timedelta(minutes=59)
    assert _number(authority.crl()) == first
    clock[0] += datetime.timedelta(minutes=2)
    assert _number(authority.crl()) == first + 1


@pytest.mark.parametrize(("generate_on_revoke", "listed_at_once"), [(True, True), (False, False)])
def test_generate_on_revoke(make: Make, generate_on_revoke: bool, listed_at_once: bool) -> None:
    authority, test_ca, clock = make({"cacheDuration": "3h", "renewPeriod": "1h",
                                      "generateOnRevoke": generate_on_revoke})
    authority.crl()
    serial = _revoke(authority, test_ca, clock)
    listed = x509.load_der_x509_crl(authority.crl()).get_revoked_certificate_by_serial_number(serial) is not None
    assert listed is listed_at_once
    clock[0] += datetime.timedelta(hours=1, minutes=1)  # the next renewal lists it either way
    assert x509.load_der_x509_crl(authority.crl()).get_revoked_certificate_by_serial_number(serial) is not None


@pytest.mark.parametrize(("crl", "message"), [
    ({"cacheDuration": "1h", "renewPeriod": "2h"}, "renewPeriod"),
    ({"renewPeriod": "-1h"}, "renewPeriod"),
    ({"idpURL": "ldap://ca/crl"}, "idpURL"),
])
def test_bad_crl_settings_refuse_to_load(tmp_path: Path, crl: dict[str, Any], message: str) -> None:
    test_ca = build_ca(tmp_path, crl={"enabled": True, **crl})
    with pytest.raises(ConfigError, match=message):
        test_ca.config()


def test_lint_reads_a_sample_of_a_large_crl(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crl_module, "LINT_SAMPLE", 2)
    authority, test_ca, clock = make({}, lint={"mode": "enforce"})
    linted: list[int] = []
    real = authority._crl._linter._lint  # type: ignore[attr-defined]

    def counting(der: bytes) -> list[Any]:
        linted.append(len(x509.load_der_x509_crl(der)))
        return real(der)  # type: ignore[no-any-return]

    monkeypatch.setattr(authority._crl._linter, "_lint", counting)  # type: ignore[attr-defined]
    serials = [_revoke(authority, test_ca, clock) for _ in range(4)]
    crl = x509.load_der_x509_crl(authority.crl())
    assert all(crl.get_revoked_certificate_by_serial_number(s) is not None for s in serials)
    assert linted == [2]  # the first two entries (one reason code) stand for the four
