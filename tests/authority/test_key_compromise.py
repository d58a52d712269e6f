"""A revocation for keyCompromise blocks the key, as Boulder does: no new certificate
(sign, ACME, rekey to it, renewal) for it, from any instance sharing the database;
other reasons block nothing."""

from __future__ import annotations

from typing import Callable

import pytest

from appliance.authority.authority import Authority
from appliance.authority.interfaces import KeyCompromised, RevokeRequest, SignRequest
from appliance.db import open_database
from tests.ca_fixtures import TestCA, make_csr, new_key

CA = tuple[Authority, TestCA]


def _sign(authority: Authority, ca: TestCA, key: object, name: str = "host.test"):  # type: ignore[no-untyped-def]
    csr, _ = make_csr(name, [name], key)  # type: ignore[arg-type]
    return authority.sign(SignRequest(csr=csr, token=ca.token(name, sans=[name])))


def _revoke(authority: Authority, ca: TestCA, serial: int, reason_code: int) -> None:
    authority.revoke(RevokeRequest(serial=str(serial), reason_code=reason_code,
                                   token=ca.token(str(serial), endpoint="revoke")))


def test_key_compromise_blocks_the_key_everywhere(make_authority: Callable[..., CA]) -> None:
    authority, ca = make_authority()
    key = new_key()
    issued = _sign(authority, ca, key)
    renewable = _sign(authority, ca, key, "other.test")
    _revoke(authority, ca, issued.certificate.serial_number, reason_code=1)
    with pytest.raises(KeyCompromised, match="compromised"):
        _sign(authority, ca, key, "again.test")
    with pytest.raises(KeyCompromised):
        authority.renew(renewable.certificate)  # another certificate for the same key
    config = ca.config()
    other = Authority.from_config(config, open_database(config.db), password=ca.password)
    try:
        with pytest.raises(KeyCompromised):
            _sign(other, ca, key, "elsewhere.test")
    finally:
        other.close()
        other.database.close()
    _sign(authority, ca, new_key(), "again.test")  # a new key is fine


def test_other_reasons_block_nothing(make_authority: Callable[..., CA]) -> None:
    authority, ca = make_authority()
    key = new_key()
    issued = _sign(authority, ca, key)
    _revoke(authority, ca, issued.certificate.serial_number, reason_code=4)
    _sign(authority, ca, key, "again.test")
