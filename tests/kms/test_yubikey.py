"""The yubikey: backend, driven through yubikit's real PivSession.

No YubiKey emulator exists: the card is ``tests.kms.fakes.piv_card``, a software
PIV card that answers the real APDUs yubikit sends. The CLI is tested in-process
(click's CliRunner) with ``appliance.kms.yubikey.pcsc_readers`` monkeypatched to
list the software card; production code has no test hook.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from smartcard.pcsc.PCSCExceptions import EstablishContextException
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from yubikit.core import TRANSPORT
from yubikit.piv import DEFAULT_MANAGEMENT_KEY, MANAGEMENT_KEY_TYPE, PIN_POLICY, TOUCH_POLICY

from appliance.cli.main import cli
from appliance.kms import KeyType, parse_uri
from appliance.kms import yubikey
from appliance.errors import ErrorKind
from appliance.kms.errors import (
    InvalidKmsUri,
    KeyNotFound,
    KmsAuthenticationFailed,
    KmsError,
    UnsupportedKeyOperation,
)
from appliance.kms.yubikey import YubiKeyKMS, encode_pkcs1v15, encode_pss
from tests.conftest import run_openssl
from tests.kms.artefacts import self_signed_ca, verify_artefacts
from tests.kms.fakes.piv_card import OID_FIRMWARE, OID_POLICY, OID_SERIAL, SoftPivCard, SoftPivConnection

PIN = "123456"
MGMT = DEFAULT_MANAGEMENT_KEY.hex()
KEY = f"yubikey:slot-id=9a?pin-value={PIN}&management-key={MGMT}"


def kms_for(*cards: SoftPivCard, uri: str = "yubikey:") -> YubiKeyKMS:
    return YubiKeyKMS(parse_uri(uri), readers=lambda: [card.connect for card in cards])


@pytest.fixture
def card() -> SoftPivCard:
    return SoftPivCard()


@pytest.fixture
def kms(card: SoftPivCard) -> YubiKeyKMS:
    return kms_for(card)


@pytest.mark.parametrize("key_type", [KeyType.RSA_3072, KeyType.RSA_4096])
def test_created_key_lives_in_the_slot(key_type: KeyType, card: SoftPivCard, kms: YubiKeyKMS, tmp_path: Path) -> None:
    """(The other key types, sign/verify and artefacts: tests/kms/test_contract.py.)"""
    created = kms.create_key(KEY, key_type)
    assert created.uri == f"yubikey:serial={card.serial};slot-id=9a"
    assert KeyType.of(created.public_key) is key_type
    assert card.slots[0x9A].key.public_key() == created.public_key
    assert kms.get_public_key(created.uri) == created.public_key
    verify_artefacts(kms.create_signer(KEY), tmp_path)


def test_rsa_pss_and_ecdsa_with_other_hash_sizes(kms: YubiKeyKMS, tmp_path: Path) -> None:
    kms.create_key(KEY, KeyType.RSA_2048)
    signer = kms.create_signer(KEY)
    assert isinstance(signer, rsa.RSAPrivateKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=padding.PSS.DIGEST_LENGTH)
    signer.public_key().verify(signer.sign(b"data", pss, hashes.SHA384()), b"data", pss, hashes.SHA384())
    (tmp_path / "pss.pem").write_bytes(self_signed_ca(signer, pss=True).public_bytes(serialization.Encoding.PEM))
    run_openssl("verify", "-CAfile", tmp_path / "pss.pem", tmp_path / "pss.pem")

    p256 = "yubikey:slot-id=82?pin-value=123456"
    p384 = "yubikey:slot-id=83?pin-value=123456"
    kms.create_key(p256, KeyType.EC_P256)
    kms.create_key(p384, KeyType.EC_P384)
    for uri, hash_alg in ((p256, hashes.SHA512()), (p384, hashes.SHA256())):
        ec_signer = kms.create_signer(uri)
        assert isinstance(ec_signer, ec.EllipticCurvePrivateKey)
        ec_signer.public_key().verify(ec_signer.sign(b"data", ec.ECDSA(hash_alg)), b"data", ec.ECDSA(hash_alg))


@pytest.mark.parametrize("bits", [2048, 2050, 3072])  # 2050: PSS masks 7 top bits
@pytest.mark.parametrize("hash_alg", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()], ids=lambda h: h.name)
def test_our_rsa_encodings_verify_with_cryptography(bits: int, hash_alg: hashes.HashAlgorithm) -> None:
    key = rsa.generate_private_key(65537, bits)
    assert key.key_size == bits
    numbers = key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    digest = hashes.Hash(hash_alg)
    digest.update(b"message")
    value = digest.finalize()
    size = (bits + 7) // 8

    def raw_rsa(block: bytes) -> bytes:  # what the card does
        assert len(block) == size
        return pow(int.from_bytes(block, "big"), d, n).to_bytes(size, "big")

    key.public_key().verify(raw_rsa(encode_pkcs1v15(value, hash_alg, size)), b"message", padding.PKCS1v15(), hash_alg)
    pss = padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
    key.public_key().verify(raw_rsa(encode_pss(value, hash_alg, bits)), b"message", pss, hash_alg)


def test_rsa_signing_does_not_use_yubikits_slow_padding(kms: YubiKeyKMS, monkeypatch: pytest.MonkeyPatch) -> None:
    kms.create_key(KEY, KeyType.RSA_3072)

    def forbidden(*args: object) -> bytes:
        raise AssertionError("yubikit padded on the host (it generates an RSA key per call)")

    monkeypatch.setattr("yubikit.piv._pad_message", forbidden)
    signer = kms.create_signer(KEY)
    assert isinstance(signer, rsa.RSAPrivateKey)
    signature = signer.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
    signer.public_key().verify(signature, b"data", padding.PKCS1v15(), hashes.SHA256())


def test_wrong_pin_fails_without_showing_it_and_uses_a_retry(card: SoftPivCard, kms: YubiKeyKMS) -> None:
    kms.create_key(KEY, KeyType.EC_P256)
    with pytest.raises(KmsAuthenticationFailed) as err:
        kms.create_signer("yubikey:slot-id=9a?pin-value=654321")
    assert "2 retries left" in err.value.message and "654321" not in err.value.message
    assert card.pin_retries == 2
    kms.create_signer(KEY)
    assert card.pin_retries == 3
    for _ in range(2):
        with pytest.raises(KmsAuthenticationFailed):
            kms.create_signer("yubikey:slot-id=9a?pin-value=000000")
    with pytest.raises(KmsAuthenticationFailed, match="now blocked"):
        kms.create_signer("yubikey:slot-id=9a?pin-value=000000")
    with pytest.raises(KmsAuthenticationFailed, match="blocked"):
        kms.create_signer(KEY)


def test_pin_from_file_or_password_and_pin_policies(card: SoftPivCard, kms: YubiKeyKMS, tmp_path: Path) -> None:
    (tmp_path / "pin").write_text(PIN + "\n")
    kms.create_key(f"yubikey:slot-id=9c?management-key={MGMT}", KeyType.EC_P256)  # 9c: PIN always
    signer = kms.create_signer(f"yubikey:slot-id=9c?pin-source={tmp_path}/pin")
    for _ in range(3):  # the PIN is verified before each signature
        signer.sign(b"data", ec.ECDSA(hashes.SHA256()))

    kms.create_key("yubikey:slot-id=9d?pin-policy=never", KeyType.EC_P256)
    assert card.slots[0x9D].pin_policy is PIN_POLICY.NEVER
    kms_for(card).create_signer("yubikey:slot-id=9d").sign(b"data", ec.ECDSA(hashes.SHA256()))

    kms.create_key("yubikey:slot-id=9e?pin-policy=once", KeyType.EC_P256)
    with pytest.raises(KmsAuthenticationFailed, match="needs the PIN"):
        kms_for(card).create_signer("yubikey:slot-id=9e").sign(b"data", ec.ECDSA(hashes.SHA256()))
    password_kms = YubiKeyKMS(parse_uri("yubikey:"), password=PIN.encode(), readers=lambda: [card.connect])
    password_kms.create_signer("yubikey:slot-id=9e").sign(b"data", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("key_type", [MANAGEMENT_KEY_TYPE.TDES, MANAGEMENT_KEY_TYPE.AES192])
def test_wrong_management_key_is_refused_clearly(key_type: MANAGEMENT_KEY_TYPE) -> None:
    secret = bytes(range(1, 25))
    card = SoftPivCard(management_key=secret, management_key_type=key_type)
    kms = kms_for(card)
    wrong = bytes(24).hex()
    with pytest.raises(KmsAuthenticationFailed, match="refused the management key$") as err:
        kms.create_key(f"yubikey:slot-id=9a?management-key={wrong}", KeyType.EC_P256)
    assert wrong not in err.value.message
    with pytest.raises(KmsAuthenticationFailed, match="factory default was tried"):
        kms.create_key("yubikey:slot-id=9a", KeyType.EC_P256)
    assert card.slots == {}
    kms.create_key(f"yubikey:slot-id=9a;management-key={secret.hex()}", KeyType.EC_P256)
    assert 0x9A in card.slots


def test_malformed_options_are_uri_errors(kms: YubiKeyKMS) -> None:
    with pytest.raises(InvalidKmsUri, match="24 bytes, not 16"):
        kms.create_key(f"yubikey:slot-id=9a?management-key={'00' * 16}", KeyType.EC_P256)
    with pytest.raises(InvalidKmsUri, match="must be hex") as err:
        kms.create_key("yubikey:slot-id=9a?management-key=notsecrethex", KeyType.EC_P256)
    assert "notsecrethex" not in err.value.message
    for slot in ("f9", "9b", "zz", "96"):
        with pytest.raises(InvalidKmsUri, match="not a key slot"):
            kms.get_public_key(f"yubikey:slot-id={slot}")
    with pytest.raises(InvalidKmsUri, match="touch-policy must be one of never, always, cached"):
        kms.create_key("yubikey:slot-id=9a?touch-policy=sometimes", KeyType.EC_P256)
    kms.create_key(KEY, KeyType.EC_P256)
    with pytest.raises(InvalidKmsUri, match="at most 8 bytes"):
        kms.create_signer("yubikey:slot-id=9a?pin-value=123456789")
    assert "0102030405060708" not in str(parse_uri(f"yubikey:slot-id=9a;management-key={MGMT}"))


def test_refuses_to_replace_a_key_and_reports_missing_ones(card: SoftPivCard, kms: YubiKeyKMS) -> None:
    with pytest.raises(KeyNotFound, match="9a holds no key"):
        kms.get_public_key("yubikey:slot-id=9a")
    created = kms.create_key(KEY, KeyType.EC_P256)
    with pytest.raises(UnsupportedKeyOperation, match="refusing to replace"):
        kms.create_key(KEY, KeyType.EC_P384)
    assert kms.get_public_key(KEY) == created.public_key


@pytest.mark.parametrize("transport", [TRANSPORT.USB, TRANSPORT.NFC], ids=str)
def test_certificate_store_round_trip(transport: TRANSPORT) -> None:
    card = SoftPivCard(transport=transport)  # NFC: short APDUs, so PUT DATA is chained
    kms = kms_for(card)
    with pytest.raises(KeyNotFound):
        kms.load_certificate(KEY)
    kms.create_key(KEY, KeyType.RSA_2048)
    certificate = self_signed_ca(kms.create_signer(KEY))
    kms.store_certificate(KEY, certificate)
    assert kms.load_certificate(KEY) == certificate
    assert card.certificate(0x9A) == certificate
    other = self_signed_ca(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(UnsupportedKeyOperation, match="not the key in YubiKey slot 9a"):
        kms.store_certificate(KEY, other)
    with pytest.raises(KmsAuthenticationFailed, match="management key"):
        kms.store_certificate(f"yubikey:slot-id=9a?management-key={'11' * 24}", certificate)


def _write_chain(card: SoftPivCard, chain: list[x509.Certificate], workdir: Path) -> None:
    pem = serialization.Encoding.PEM
    (workdir / "yubico_root.pem").write_bytes(card.root_certificate.public_bytes(pem))
    (workdir / "attest.pem").write_bytes(chain[0].public_bytes(pem))
    (workdir / "f9.pem").write_bytes(chain[1].public_bytes(pem))
    run_openssl("verify", "-CAfile", workdir / "yubico_root.pem", "-untrusted", workdir / "f9.pem", workdir / "attest.pem")


def test_attestation_chain_verifies_and_names_the_key(card: SoftPivCard, kms: YubiKeyKMS, tmp_path: Path) -> None:
    created = kms.create_key(f"{KEY}&pin-policy=always&touch-policy=cached", KeyType.EC_P384)
    chain = kms.attest(created.uri)
    assert len(chain) == 2
    leaf, intermediate = chain
    assert leaf.public_key() == created.public_key
    assert intermediate == card.attestation_certificate
    extension_values = {ext.oid: ext.value.value for ext in leaf.extensions}  # type: ignore[attr-defined]
    assert extension_values[OID_FIRMWARE] == bytes([5, 7, 1])
    assert extension_values[OID_SERIAL] == b"\x02\x04" + card.serial.to_bytes(4, "big")
    assert extension_values[OID_POLICY] == bytes([PIN_POLICY.ALWAYS, TOUCH_POLICY.CACHED])
    _write_chain(card, chain, tmp_path)
    with pytest.raises(KeyNotFound):
        kms.attest("yubikey:slot-id=9c")


def test_firmware_without_metadata_finds_keys_by_attestation(tmp_path: Path) -> None:
    card = SoftPivCard(version=(5, 2, 7))  # no GET METADATA; 3DES management key
    kms = kms_for(card)
    created = kms.create_key(KEY, KeyType.EC_P256)
    assert kms.get_public_key(KEY) == created.public_key
    verify_artefacts(kms.create_signer(KEY), tmp_path, ssh=False)


def test_firmware_without_attestation_finds_keys_by_certificate(tmp_path: Path) -> None:
    card = SoftPivCard(version=(4, 1, 0))  # no serial, metadata nor attestation
    kms = kms_for(card)
    created = kms.create_key(KEY, KeyType.EC_P256)
    assert created.uri == "yubikey:slot-id=9a"
    with pytest.raises(KeyNotFound):
        kms.get_public_key(KEY)  # nothing on the card says what the slot holds yet
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = self_signed_ca(ca_key)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=yubikey"))
        .issuer_name(ca.subject)
        .public_key(created.public_key)  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(ca.not_valid_before_utc)
        .not_valid_after(ca.not_valid_after_utc)
        .sign(ca_key, hashes.SHA256())
    )
    kms.store_certificate(KEY, certificate)
    assert kms.get_public_key(KEY) == created.public_key
    verify_artefacts(kms.create_signer(KEY), tmp_path, ssh=False)


def test_serial_chooses_the_card(card: SoftPivCard) -> None:
    other = SoftPivCard(serial=424242)
    with pytest.raises(InvalidKmsUri, match="several YubiKeys"):
        kms_for(card, other).get_public_key("yubikey:slot-id=9a")
    with pytest.raises(KeyNotFound, match="no YubiKey with serial 1"):
        kms_for(card, other).get_public_key("yubikey:slot-id=9a;serial=1")
    with pytest.raises(KeyNotFound, match="no YubiKey is connected"):
        kms_for().get_public_key("yubikey:slot-id=9a")
    kms = kms_for(card, other, uri="yubikey:serial=424242")
    created = kms.create_key(KEY, KeyType.EC_P256)
    assert created.uri == "yubikey:serial=424242;slot-id=9a"
    assert 0x9A in other.slots and card.slots == {}
    with pytest.raises(InvalidKmsUri, match="uses YubiKey 424242, not 13371337"):
        kms.get_public_key(f"yubikey:slot-id=9a;serial={card.serial}")


def test_concurrent_signers_do_not_interleave_apdus(tmp_path: Path) -> None:
    card = SoftPivCard(transport=TRANSPORT.NFC)  # chained commands and responses
    kms = kms_for(card)
    kms.create_key(KEY, KeyType.RSA_2048)
    signer = kms.create_signer(KEY)
    assert isinstance(signer, rsa.RSAPrivateKey)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(3):
                signer.sign(b"%d" % i, padding.PKCS1v15(), hashes.SHA256())
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_close_releases_the_connection(card: SoftPivCard) -> None:
    connections: list[SoftPivConnection] = []

    def connect() -> SoftPivConnection:
        connections.append(card.connect())
        return connections[-1]

    kms = YubiKeyKMS(parse_uri("yubikey:"), readers=lambda: [connect])
    kms.create_key(KEY, KeyType.EC_P256)
    kms.create_signer(KEY)
    assert len(connections) == 1 and not connections[0].closed
    kms.close()
    assert connections[0].closed


def test_pcsc_unavailable_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pcscd() -> list[object]:
        raise EstablishContextException(0x8010001D)

    monkeypatch.setattr(yubikey, "list_devices", no_pcscd)
    with pytest.raises(KmsError, match="PC/SC is not available") as err:
        YubiKeyKMS(parse_uri("yubikey:")).get_public_key("yubikey:slot-id=9a")
    assert err.value.kind is ErrorKind.UNAVAILABLE


def test_cli_create_sign_and_attest(card: SoftPivCard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(yubikey, "pcsc_readers", lambda: [card.connect])
    runner = CliRunner()
    created = runner.invoke(cli, ["kms", "create", KEY, "--kty", "RSA", "--size", "2048"])
    assert created.exit_code == 0, created.stderr
    pem = created.stdout
    assert runner.invoke(cli, ["kms", "key", "yubikey:slot-id=9a"]).stdout == pem
    (tmp_path / "pub.pem").write_text(pem)
    (tmp_path / "data").write_bytes(b"sign me")
    signed = runner.invoke(cli, ["kms", "sign", KEY, "--in", str(tmp_path / "data"), "--alg", "PS256"])
    assert signed.exit_code == 0, signed.stderr
    (tmp_path / "sig").write_bytes(base64.b64decode(signed.stdout))
    run_openssl("dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest",
                "-verify", tmp_path / "pub.pem", "-signature", tmp_path / "sig", tmp_path / "data")

    attested = runner.invoke(cli, ["kms", "attest", "yubikey:slot-id=9a"])
    assert attested.exit_code == 0, attested.stderr
    chain = x509.load_pem_x509_certificates(attested.stdout.encode())
    assert chain[0].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode() == pem
    _write_chain(card, chain, tmp_path)

    refused = runner.invoke(cli, ["kms", "sign", "yubikey:slot-id=9a?pin-value=999999", "--in", str(tmp_path / "data")])
    assert refused.exit_code == 1
    assert refused.stderr == "error: the YubiKey rejected the PIN (2 retries left)\n"
