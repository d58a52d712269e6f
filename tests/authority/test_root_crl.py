"""crl.rootCRL: a missing, unparsable or foreign file is refused naming the field;
a stale one is still served, with a warning at most once an hour."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.authority.root_crl import RootCrl, load_root_crl
from appliance.config import ConfigError
from tests.api.pki import FakePKI

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def _crl(issuer: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> x509.CertificateRevocationList:
    return (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject).last_update(NOW)
            .next_update(NOW + datetime.timedelta(days=1)).add_extension(x509.CRLNumber(1), critical=False)
            .sign(key, hashes.SHA256()))


def test_load_accepts_pem_and_der_signed_by_the_root(tmp_path: Path) -> None:
    pki = FakePKI.create()
    crl = _crl(pki.root, pki.root_key)
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        (tmp_path / "root.crl").write_bytes(crl.public_bytes(encoding))
        assert load_root_crl(tmp_path / "root.crl", pki.root) == crl


def test_load_refuses_bad_files_naming_the_field(tmp_path: Path) -> None:
    pki = FakePKI.create()
    path = tmp_path / "root.crl"
    with pytest.raises(ConfigError, match="'crl.rootCRL'.*No such file"):
        load_root_crl(path, pki.root)
    path.write_bytes(b"not a CRL")
    with pytest.raises(ConfigError, match="'crl.rootCRL'.*is not a CRL"):
        load_root_crl(path, pki.root)
    path.write_bytes(_crl(pki.root, ec.generate_private_key(ec.SECP256R1())).public_bytes(serialization.Encoding.DER))
    with pytest.raises(ConfigError, match="'crl.rootCRL'.*not signed by the root"):
        load_root_crl(path, pki.root)


def test_a_stale_root_crl_is_served_with_an_hourly_warning(caplog: pytest.LogCaptureFixture) -> None:
    pki = FakePKI.create()
    crl = _crl(pki.root, pki.root_key)
    clock = [NOW]
    served = RootCrl(crl, lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger="appliance.authority.root_crl"):
        assert served.current() == crl.public_bytes(serialization.Encoding.DER) and not caplog.records
        for minutes in (24 * 60 + 1, 24 * 60 + 30, 24 * 60 + 62):
            clock[0] = NOW + datetime.timedelta(minutes=minutes)
            assert served.current() == crl.public_bytes(serialization.Encoding.DER)
    assert len(caplog.records) == 2 and "root CRL" in caplog.records[0].getMessage()
