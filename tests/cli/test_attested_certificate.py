"""``appliance ca certificate SERIAL CRT --attestation-uri yubikey:slot-id=9a``: the YubiKey
enrolment of ``step ca certificate --attestation-uri``, run in-process against a real
``appliance serve`` whose ACME provisioner has ``device-attest-01``.

The YubiKey is ``tests.kms.fakes.piv_card`` (yubikit's real APDUs; ``pcsc_readers`` is
monkeypatched to list it) with an attestation hierarchy in Yubico's shape (root -> F9 -> slot);
the provisioner trusts that test root, so Yubico's real roots are not exercised here."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509

from appliance.kms import yubikey
from appliance.pki.permanent_identifier import permanent_identifiers
from tests.acme.conftest import roots_field
from tests.acme.test_device_attest import openssl_san
from tests.cli.conftest import Client
from tests.e2e.harness import Server, init_ca, running_server
from tests.kms.fakes.piv_card import SoftPivCard

pytestmark = pytest.mark.slow  # a real server per module

SERIAL = 13371337
PROVISIONER = "attested"


@pytest.fixture(scope="module")
def card() -> SoftPivCard:
    return SoftPivCard(serial=SERIAL)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, card: SoftPivCard) -> Iterator[Server]:
    """A CA whose ACME provisioner "attested" takes YubiKey attestations chained to the card's root."""
    ca = init_ca(tmp_path_factory.mktemp("attest-ca"))
    data = ca.data()
    data["authority"]["provisioners"].append({
        "type": "ACME", "name": PROVISIONER, "challenges": ["device-attest-01"], "attestationFormats": ["step"],
        "attestationRoots": roots_field(card.root_certificate)})
    ca.write(data)
    with running_server(ca, workers=1) as running:
        yield running


@pytest.fixture
def plugged(monkeypatch: pytest.MonkeyPatch, card: SoftPivCard) -> SoftPivCard:
    monkeypatch.setattr(yubikey, "pcsc_readers", lambda: [card.connect])
    return card


@pytest.fixture
def pin_file(tmp_path: Path) -> Path:
    path = tmp_path / "pin"
    path.write_text("123456\n")
    return path


def enrol(client: Client, crt: Path, pin_file: Path, subject: str = str(SERIAL), *extra: str) -> list[str]:
    return ["ca", "certificate", subject, str(crt), "--attestation-uri", "yubikey:slot-id=9a",
            "--pin-source", str(pin_file), "--provisioner", PROVISIONER, *extra]


def test_one_command_enrols_a_yubikey(bootstrapped: Client, server: Server, plugged: SoftPivCard, pin_file: Path,
                                      tmp_path: Path) -> None:
    plugged.slots.pop(0x9A, None)  # an empty slot, whatever ran before
    crt = tmp_path / "yubikey.crt"
    result = bootstrapped.ok(*enrol(bootstrapped, crt, pin_file, str(SERIAL), "--store-certificate"))
    assert "Created a EC_P256 key in yubikey:serial=13371337;slot-id=9a" in result.stderr
    leaf, *chain = x509.load_pem_x509_certificates(crt.read_bytes())
    assert leaf.public_key() == plugged.slots[0x9A].key.public_key()
    assert plugged.certificate(0x9A) == leaf  # --store-certificate
    assert permanent_identifiers(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [
        str(SERIAL)]
    assert [c.subject for c in chain] == [x509.load_pem_x509_certificate(server.ca.intermediate.read_bytes()).subject]
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(server.ca.root), "-untrusted",
                               str(server.ca.intermediate), str(crt)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert openssl_san(crt) == ["OBJECT            :Permanent Identifier", f"UTF8STRING        :{SERIAL}"]

    again = tmp_path / "again.crt"  # the slot's key is used, not replaced; a PIN in the URI is not printed
    output = bootstrapped.ok("ca", "certificate", str(SERIAL), str(again), "--provisioner", PROVISIONER,
                             "--attestation-uri", "yubikey:slot-id=9a?pin-value=123456").output
    assert "Created" not in output and "123456" not in output and "yubikey:slot-id=9a" in output
    assert x509.load_pem_x509_certificates(again.read_bytes())[0].public_key() == leaf.public_key()


def test_another_serial_is_refused(bootstrapped: Client, server: Server, plugged: SoftPivCard, pin_file: Path,
                                   tmp_path: Path) -> None:
    result = bootstrapped.run(*enrol(bootstrapped, tmp_path / "other.crt", pin_file, "42"))
    assert result.exit_code == 1  # after "Created ..." when the slot was still empty
    assert "error: the CA refused the device attestation: permanent identifier does not match" in result.stderr
    assert not (tmp_path / "other.crt").exists()


def test_a_yubikey_from_an_untrusted_hierarchy_is_refused(bootstrapped: Client, server: Server, pin_file: Path,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stranger = SoftPivCard(serial=SERIAL)
    monkeypatch.setattr(yubikey, "pcsc_readers", lambda: [stranger.connect])
    result = bootstrapped.run(*enrol(bootstrapped, tmp_path / "stranger.crt", pin_file))
    assert result.exit_code == 1  # the empty slot got a key first
    assert "error: the CA refused the device attestation: x5c is not valid" in result.stderr


def test_the_provisioner_is_required(bootstrapped: Client, plugged: SoftPivCard, pin_file: Path, tmp_path: Path) -> None:
    error = bootstrapped.fails("ca", "certificate", str(SERIAL), str(tmp_path / "x.crt"),
                               "--attestation-uri", "yubikey:slot-id=9a", "--pin-source", str(pin_file))
    assert "--attestation-uri needs --provisioner" in error


def test_options_that_do_not_apply_are_refused(bootstrapped: Client, plugged: SoftPivCard, pin_file: Path,
                                                tmp_path: Path) -> None:
    crt = str(tmp_path / "x.crt")
    error = bootstrapped.fails("ca", "certificate", str(SERIAL), crt, str(tmp_path / "x.key"), "--san", "a.example",
                               "--attestation-uri", "yubikey:slot-id=9a", "--provisioner", PROVISIONER)
    assert "--attestation-uri cannot be combined with KEY_FILE, --san" in error
    error = bootstrapped.fails("ca", "certificate", "web.example", crt, str(tmp_path / "x.key"),
                               "--pin-source", str(pin_file), "--provisioner", "admin")
    assert "--pin-source only apply with --attestation-uri" in error
