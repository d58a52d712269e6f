"""The client's ACME code (``appliance.client.acme`` and ``.attestation``) against the in-process
CA's ACME API: nonce handling and how a refused enrolment reads. The YubiKey is the software
PIV card of the KMS tests, under its own test attestation root (Yubico's are not exercised)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from appliance.client.acme import AcmeClient
from appliance.client.attestation import attested_key, enrol
from appliance.client.http import CaRequestFailed
from appliance.jose import generate_jwk
from appliance.kms import KeyType, parse_uri
from appliance.kms.yubikey import YubiKeyKMS
from tests.acme.conftest import AcmeEnv, responders, start  # noqa: F401 (responders is a fixture)
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.acme.conftest import roots_field
from tests.acme.test_device_attest import SLOT
from tests.kms.fakes.piv_card import SoftPivCard


@pytest.fixture
def card() -> SoftPivCard:
    return SoftPivCard(serial=4711)


@pytest.fixture
def env(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer],  # noqa: F811
        card: SoftPivCard) -> Iterator[AcmeEnv]:
    running = start(tmp_path, responders, {"type": "ACME", "name": "web"}, challenges=["device-attest-01"],
                    attestationRoots=roots_field(card.root_certificate))
    yield running
    running.server.close()
    running.database.close()


def client(env: AcmeEnv, provisioner: str = "acme") -> AcmeClient:
    return AcmeClient(env.http, env.directory(provisioner), generate_jwk("EC"), sleep=lambda _: None)


def test_enrol_creates_and_then_reuses_the_slot_key(env: AcmeEnv, card: SoftPivCard) -> None:
    kms = YubiKeyKMS(parse_uri("yubikey:"), readers=lambda: [card.connect])
    first = attested_key(kms, SLOT, KeyType.EC_P256)
    assert first.created and [c.subject for c in first.chain][1:] == [card.certificate(0xF9).subject]  # type: ignore[union-attr]
    chain = enrol(client(env), "4711", first)
    assert chain[0].public_key() == card.slots[0x9A].key.public_key()
    again = attested_key(kms, SLOT, KeyType.EC_P256)
    assert not again.created and again.signer.public_key() == first.signer.public_key()


def test_a_stale_nonce_is_retried_once(env: AcmeEnv) -> None:
    acme = client(env)
    acme._nonce = "stale"
    acme.register()
    assert acme.account_url and "/account/" in acme.account_url


def test_refusals_read_as_the_ca_problem(env: AcmeEnv, card: SoftPivCard) -> None:
    kms = YubiKeyKMS(parse_uri("yubikey:"), readers=lambda: [card.connect])
    key = attested_key(kms, SLOT, KeyType.EC_P256)
    with pytest.raises(CaRequestFailed, match="refused the device attestation: permanent identifier does not match; "
                                              "challenge identifier '42' is not the attested"):
        enrol(client(env), "42", key)
    with pytest.raises(CaRequestFailed, match=r"\(403\): .*no enabled challenge"):
        enrol(client(env, "web"), "4711", key)
