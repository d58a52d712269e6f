"""The device-key wrappers, driven by a software device whose answers we control."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.kms.errors import SignatureCheckFailed, UnsupportedKeyOperation
from appliance.kms.signer import RsaPadding, device_private_key, padding_for
from appliance.pki.blocking import run_on_loop
from tests.kms.artefacts import verify_artefacts


@dataclass
class SoftwareDevice:
    """Signs digests with a software key, optionally in raw r||s or as garbage."""

    key: PrivateKeyTypes
    raw_ecdsa: bool = False
    garbage: bool = False

    def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None) -> bytes:
        if self.garbage:
            return b"\x30\x06\x02\x01\x01\x02\x01\x01"
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            der = self.key.sign(digest, ec.ECDSA(utils.Prehashed(algorithm)))
            if not self.raw_ecdsa:
                return der
            r, s = utils.decode_dss_signature(der)
            size = (self.key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        assert isinstance(self.key, rsa.RSAPrivateKey) and rsa_padding is not None
        return self.key.sign(digest, padding_for(rsa_padding, algorithm), utils.Prehashed(algorithm))

    def sign_message(self, message: bytes) -> bytes:
        assert isinstance(self.key, ed25519.Ed25519PrivateKey)
        return b"\x00" * 64 if self.garbage else self.key.sign(message)


KEYS = {
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


@pytest.mark.parametrize("name", KEYS)
def test_builders_accept_device_keys_and_openssl_verifies(name: str, tmp_path) -> None:
    key = KEYS[name]()
    signer = device_private_key(key.public_key(), SoftwareDevice(key))
    assert isinstance(signer, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey))
    verify_artefacts(signer, tmp_path)


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()])
def test_raw_ecdsa_is_normalised_to_der(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    signer = device_private_key(key.public_key(), SoftwareDevice(key, raw_ecdsa=True))
    signature = signer.sign(b"data", ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(signature, b"data", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("name", KEYS)
def test_garbage_from_the_device_is_refused(name: str) -> None:
    key = KEYS[name]()
    signer = device_private_key(key.public_key(), SoftwareDevice(key, garbage=True))
    with pytest.raises(SignatureCheckFailed):
        if isinstance(signer, ed25519.Ed25519PrivateKey):
            signer.sign(b"data")
        elif isinstance(signer, rsa.RSAPrivateKey):
            signer.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
        else:
            signer.sign(b"data", ec.ECDSA(hashes.SHA256()))


def test_rsa_pss_needs_digest_length_salt() -> None:
    key = KEYS["rsa2048"]()
    signer = device_private_key(key.public_key(), SoftwareDevice(key))
    good = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    key.public_key().verify(signer.sign(b"m", good, hashes.SHA256()), b"m", good, hashes.SHA256())
    with pytest.raises(UnsupportedKeyOperation, match="salt length"):
        signer.sign(b"m", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256())


def test_prehashed_input_is_signed_as_a_digest() -> None:
    key = KEYS["p256"]()
    signer = device_private_key(key.public_key(), SoftwareDevice(key))
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"message")
    signature = signer.sign(digest.finalize(), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    key.public_key().verify(signature, b"message", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(UnsupportedKeyOperation, match="prehashed"):
        signer.sign(b"short", ec.ECDSA(utils.Prehashed(hashes.SHA256())))


@pytest.mark.parametrize("raw_ecdsa", [False, True])
def test_one_ec_signer_alternates_hashes(raw_ecdsa: bool) -> None:
    """The verification objects are cached per hash: alternating hashes must not mix them."""
    key = KEYS["p384"]()
    signer = device_private_key(key.public_key(), SoftwareDevice(key, raw_ecdsa=raw_ecdsa))
    for hash_alg in [hashes.SHA256(), hashes.SHA384(), hashes.SHA512(), hashes.SHA256(), hashes.SHA3_256()]:
        signature = signer.sign(b"m", ec.ECDSA(hash_alg))
        key.public_key().verify(signature, b"m", ec.ECDSA(hash_alg))


def test_deterministic_ecdsa_refused_unless_the_device_can() -> None:
    key = KEYS["p256"]()
    signer = device_private_key(key.public_key(), SoftwareDevice(key))
    with pytest.raises(UnsupportedKeyOperation, match="deterministic"):
        signer.sign(b"m", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


def test_private_material_cannot_be_exported() -> None:
    key = KEYS["p256"]()
    signer = device_private_key(key.public_key(), SoftwareDevice(key))
    with pytest.raises(UnsupportedKeyOperation, match="cannot be exported"):
        signer.private_numbers()


@dataclass
class ThreadNotingDevice(SoftwareDevice):
    """A software device that notes the thread each signature ran in."""

    threads: list[str] = field(default_factory=list)

    def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None) -> bytes:
        self.threads.append(threading.current_thread().name)
        return super().sign_digest(digest, algorithm, rsa_padding)


@pytest.mark.parametrize("garbage", [False, True])
def test_under_run_on_loop_the_device_signs_in_a_thread_and_is_verified_on_the_loop(garbage: bool) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    device = ThreadNotingDevice(key, raw_ecdsa=True, garbage=garbage)
    signer = device_private_key(key.public_key(), device)

    async def main() -> bytes:
        with ThreadPoolExecutor(1, thread_name_prefix="device") as pool:
            async def offload(function: Any, *args: Any) -> Any:
                return await asyncio.get_running_loop().run_in_executor(pool, function, *args)

            return await run_on_loop(offload, signer.sign, b"tbs", ec.ECDSA(hashes.SHA256()))

    if garbage:
        with pytest.raises(SignatureCheckFailed):
            asyncio.run(main())
    else:
        key.public_key().verify(asyncio.run(main()), b"tbs", ec.ECDSA(hashes.SHA256()))
    assert [name.startswith("device") for name in device.threads] == [True]
