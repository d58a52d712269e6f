"""KMS metrics: every device signature counted and timed per backend, failures as errors
(SoftHSM2 through the pkcs11: backend; a failing device for the error count)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from prometheus_client import REGISTRY

from appliance.kms import KeyType, open_key_manager
from appliance.kms.errors import KmsError
from appliance.kms.signer import RsaPadding, device_private_key
from tests.conftest import SoftHSMToken


def _count(backend: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("appliance_kms_operations_total",
                                     {"backend": backend, "operation": "sign", "outcome": outcome}) or 0.0


@pytest.mark.hsm
def test_softhsm_signatures_are_counted_and_timed(softhsm_token: SoftHSMToken) -> None:
    with open_key_manager(softhsm_token.kms_uri) as kms:
        created = kms.create_key("pkcs11:object=metered", KeyType.EC_P256)
        signer = kms.create_signer(created.uri)
        before = _count("pkcs11", "ok")
        timed = REGISTRY.get_sample_value("appliance_kms_operation_duration_seconds_count",
                                          {"backend": "pkcs11", "operation": "sign"}) or 0.0
        assert isinstance(signer, ec.EllipticCurvePrivateKey)
        signer.sign(b"counted", ec.ECDSA(hashes.SHA256()))
        signer.sign(b"counted", ec.ECDSA(hashes.SHA256()))
    assert _count("pkcs11", "ok") == before + 2
    assert REGISTRY.get_sample_value("appliance_kms_operation_duration_seconds_count",
                                     {"backend": "pkcs11", "operation": "sign"}) == timed + 2


class FailingDevice:
    """A device that is away (backend label: this module's name, "test")."""

    def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None) -> bytes:
        raise KmsError("the device is away")

    def sign_message(self, message: bytes) -> bytes:
        raise KmsError("the device is away")


def test_a_failed_signature_is_an_error() -> None:
    key = device_private_key(ec.generate_private_key(ec.SECP256R1()).public_key(), FailingDevice())
    before = _count("test", "error")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    with pytest.raises(KmsError):
        key.sign(b"x", ec.ECDSA(hashes.SHA256()))
    assert _count("test", "error") == before + 1


class DecryptingDevice:
    """An RSA key in memory behind the device interface, decrypting (backend label "test")."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None) -> bytes:
        raise KmsError("not used")

    def sign_message(self, message: bytes) -> bytes:
        raise KmsError("not used")

    def decrypt(self, ciphertext: bytes, rsa_padding: padding.AsymmetricPadding) -> bytes:
        return self.key.decrypt(ciphertext, rsa_padding)


def test_decryptions_are_counted_by_outcome() -> None:
    device = DecryptingDevice()
    key = device_private_key(device.key.public_key(), device)
    assert isinstance(key, rsa.RSAPrivateKey)

    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("appliance_kms_operations_total",
                                         {"backend": "test", "operation": "decrypt", "outcome": outcome}) or 0.0

    ok, error = count("ok"), count("error")
    ciphertext = device.key.public_key().encrypt(b"content key", padding.PKCS1v15())
    assert key.decrypt(ciphertext, padding.PKCS1v15()) == b"content key"
    with pytest.raises(ValueError):
        key.decrypt(b"\x01" * 10, padding.PKCS1v15())  # not the key's length
    assert (count("ok"), count("error")) == (ok + 1, error + 1)
