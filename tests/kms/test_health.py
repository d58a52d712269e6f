"""The /health probe: a test signature, cached for a few seconds of an injected clock."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils

from appliance.kms.faults import KmsUnavailable
from appliance.kms.health import SignerHealth
from appliance.kms.signer import RsaPadding, device_private_key


class FlakyDevice:
    """A device key over a software key that can be switched off or made to answer garbage."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        self.state = "up"
        self.calls = 0

    def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None) -> bytes:
        self.calls += 1
        if self.state == "down":
            raise KmsUnavailable("token 'ca' is unavailable (device): gone")
        if self.state == "garbage":
            return b"\x30\x06\x02\x01\x01\x02\x01\x01"
        return self.key.sign(digest, ec.ECDSA(utils.Prehashed(algorithm)))

    def sign_message(self, message: bytes) -> bytes:
        raise AssertionError("not an Ed25519 key")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def device() -> FlakyDevice:
    return FlakyDevice(ec.generate_private_key(ec.SECP256R1()))


def test_probe_is_cached_for_its_ttl(device: FlakyDevice) -> None:
    clock = Clock()
    health = SignerHealth(device_private_key(device.key.public_key(), device), clock=clock, ttl=3)
    assert health.fresh() is None
    assert health.check().healthy and device.calls == 1
    for _ in range(100):
        assert health.check().healthy
    assert device.calls == 1  # under load: no device call at all
    device.state = "down"
    clock.now += 2.9
    assert health.check().healthy and device.calls == 1
    clock.now += 0.2
    report = health.check()
    assert not report.healthy and "unavailable" in report.detail and device.calls == 2
    device.state = "up"
    clock.now += 3
    assert health.check().healthy


def test_a_garbage_signature_is_unhealthy(device: FlakyDevice) -> None:
    device.state = "garbage"
    report = SignerHealth(device_private_key(device.key.public_key(), device), clock=Clock()).check()
    assert not report.healthy and "does not verify" in report.detail


@pytest.mark.parametrize("key", [rsa.generate_private_key(65537, 2048), ed25519.Ed25519PrivateKey.generate(),
                                 ec.generate_private_key(ec.SECP384R1())], ids=["rsa", "ed25519", "p384"])
def test_every_key_type_has_a_probe(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> None:
    assert SignerHealth(key, clock=Clock()).check().healthy
