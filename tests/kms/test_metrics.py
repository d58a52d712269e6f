"""KMS metrics: every device signature counted and timed per backend, failures as errors
(SoftHSM2 through the pkcs11: backend; a failing device for the error count)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
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
