"""The ctypes ECDSA verifier on the system's libcrypto: agrees with cryptography, never crashes, frees what it makes."""

from __future__ import annotations

import gc
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from appliance.kms import native_verify
from appliance.kms.errors import SignatureCheckFailed
from appliance.kms.native_verify import EcVerifier, ec_verifier
from appliance.kms.signer import device_private_key
from tests.kms.test_signer import SoftwareDevice

CURVES = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1()}
HASHES = [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()]

pytestmark = pytest.mark.skipif(native_verify.libcrypto() is None, reason="no OpenSSL 3 libcrypto on this system")


def cryptography_says(public_key: ec.EllipticCurvePublicKey, signature: bytes, digest: bytes,
                      hash_alg: hashes.HashAlgorithm) -> bool:
    try:
        public_key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hash_alg)))
    except (InvalidSignature, ValueError):
        return False
    return True


def der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big") if value >= 0 else b"\xff"
    return b"\x02" + bytes([len(body)]) + body


def corruptions(rng: random.Random, signature: bytes, order: int) -> dict[str, bytes]:
    """Ways a device answer can be wrong, each keeping or breaking the DER structure."""
    r, s = utils.decode_dss_signature(signature)
    flip = rng.randrange(len(signature))
    return {
        "r+1": utils.encode_dss_signature(r + 1, s),
        "s+1": utils.encode_dss_signature(r, s + 1),
        "r=0": utils.encode_dss_signature(0, s),
        "s=order": utils.encode_dss_signature(r, order),
        "swapped": utils.encode_dss_signature(s, r),
        "bit flip": signature[:flip] + bytes([signature[flip] ^ (1 << rng.randrange(8))]) + signature[flip + 1:],
        "truncated": signature[:-1],
        "trailing byte": signature + b"\x00",
        "long length": signature[:1] + bytes([signature[1] + 1]) + signature[2:],
        "short length": signature[:1] + bytes([signature[1] - 1]) + signature[2:],
        "wrong tag": b"\x31" + signature[1:],
        "padded r": b"\x30" + bytes([len(signature) - 1]) + b"\x02" + bytes([signature[3] + 1]) + b"\x00" + signature[4:],
        "raw r||s": r.to_bytes((order.bit_length() + 7) // 8, "big") + s.to_bytes((order.bit_length() + 7) // 8, "big"),
        "negative r": b"\x30" + bytes([len(der_integer(-1)) + len(der_integer(s))]) + der_integer(-1) + der_integer(s),
    }


ORDERS = {
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "p384": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16),
}


@pytest.mark.parametrize("curve", CURVES)
def test_agrees_with_cryptography_on_valid_and_corrupted_signatures(curve: str) -> None:
    rng = random.Random(1)
    keys = [ec.generate_private_key(CURVES[curve]) for _ in range(4)]
    verifiers = [ec_verifier(key.public_key()) for key in keys]
    for round_ in range(40):
        i = round_ % len(keys)
        key, verifier, other = keys[i], verifiers[i], verifiers[(i + 1) % len(keys)]
        hash_alg = HASHES[round_ % len(HASHES)]
        digest = rng.randbytes(hash_alg.digest_size)
        signature = key.sign(digest, ec.ECDSA(utils.Prehashed(hash_alg)))
        assert verifier is not None and other is not None
        assert verifier.verify(signature, digest) and cryptography_says(key.public_key(), signature, digest, hash_alg)
        assert not other.verify(signature, digest)  # wrong key
        wrong_digest = bytes([digest[0] ^ 1]) + digest[1:]  # leftmost bits: ECDSA truncates long digests
        assert not verifier.verify(signature, wrong_digest)
        assert not cryptography_says(key.public_key(), signature, wrong_digest, hash_alg)
        for name, bad in corruptions(rng, signature, ORDERS[curve]).items():
            native = verifier.verify(bad, digest)
            assert native == cryptography_says(key.public_key(), bad, digest, hash_alg), name
            assert not native, name
        r, s = utils.decode_dss_signature(signature)  # (r, n - s) is the other valid signature: both accept it
        assert verifier.verify(utils.encode_dss_signature(r, ORDERS[curve] - s), digest)
        assert cryptography_says(key.public_key(), utils.encode_dss_signature(r, ORDERS[curve] - s), digest, hash_alg)


def test_empty_and_garbage_input_is_invalid() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    verifier = ec_verifier(key.public_key())
    assert verifier is not None
    digest = os.urandom(32)
    rng = random.Random(2)
    inputs = [b"", b"\x00", b"\x30", b"\x30\x00", b"\x30\x80", b"\x30\x06\x02\x01\x01\x02\x01\x01", b"\xff" * 10_000]
    inputs += [rng.randbytes(rng.randrange(200)) for _ in range(500)]
    inputs += [b"\x30" + bytes([n]) + rng.randbytes(n) for n in range(0, 128, 3)]
    for garbage in inputs:
        assert not verifier.verify(garbage, digest)
        assert not verifier.verify(garbage, b"")
    signature = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    assert not verifier.verify(signature, b"")
    assert verifier.verify(bytearray(signature), memoryview(digest))  # bytes-likes are copied to bytes


def test_concurrent_verification_agrees() -> None:
    keys = [ec.generate_private_key(CURVES[name]) for name in ("p256", "p384", "p256")]
    verifiers = [ec_verifier(key.public_key()) for key in keys]
    cases = []
    for i in range(120):
        key_index = i % len(keys)
        digest = os.urandom(32)
        signature = keys[key_index].sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        if i % 3 == 1:
            signature = signature[:-1] + bytes([signature[-1] ^ 1])
        expected = cryptography_says(keys[key_index].public_key(), signature, digest, hashes.SHA256())
        cases.append((key_index, signature, digest, expected))

    def check(worker: int) -> int:
        ok = 0
        for key_index, signature, digest, expected in cases[worker % 7:] + cases[:worker % 7]:
            verifier = verifiers[key_index]
            assert verifier is not None
            ok += verifier.verify(signature, digest) == expected
        return ok

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(check, range(64)))
    assert results == [len(cases)] * 64


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_200k_verifies_and_many_keys_and_threads_do_not_leak() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    digest = os.urandom(32)
    good = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    bad = good[:-1] + bytes([good[-1] ^ 1])
    verifier = ec_verifier(key.public_key())
    assert verifier is not None

    def verify_many(n: int) -> None:
        for i in range(n):
            assert verifier.verify(good, digest) if i % 2 else not verifier.verify(bad if i % 4 else b"\x30", digest)

    verify_many(2_000)
    gc.collect()
    before = rss_bytes()
    verify_many(200_000)
    for _ in range(2_000):  # keys (EVP_PKEY) and per-thread contexts (EVP_PKEY_CTX) are freed
        EcVerifier(native_verify.libcrypto(), key.public_key()).verify(good, digest)
    for _ in range(50):
        thread = threading.Thread(target=verify_many, args=(20,))
        thread.start()
        thread.join()
    gc.collect()
    growth = rss_bytes() - before
    assert growth < 4 * 1024 * 1024, f"RSS grew by {growth / 1024:.0f} KiB"


@pytest.fixture
def native_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Signatures the native verifier is asked about."""
    calls: list[bytes] = []
    original = EcVerifier.verify

    def spy(self: EcVerifier, signature: bytes, digest: bytes) -> bool:
        calls.append(signature)
        return original(self, signature, digest)

    monkeypatch.setattr(EcVerifier, "verify", spy)
    return calls


@pytest.mark.parametrize("raw_ecdsa", [False, True])
def test_signer_checks_ecdsa_natively(native_calls: list[bytes], raw_ecdsa: bool) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = device_private_key(key.public_key(), SoftwareDevice(key, raw_ecdsa=raw_ecdsa))
    signature = signer.sign(b"m", ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(signature, b"m", ec.ECDSA(hashes.SHA256()))
    assert native_calls == [signature]
    garbage = device_private_key(key.public_key(), SoftwareDevice(key, garbage=True))
    with pytest.raises(SignatureCheckFailed):
        garbage.sign(b"m", ec.ECDSA(hashes.SHA256()))
    assert len(native_calls) == 2


def refuse(lib: object, public_key: ec.EllipticCurvePublicKey) -> EcVerifier:
    raise OSError("d2i_PUBKEY refused the public key")


@pytest.mark.parametrize("unavailable", ["no libcrypto", "setup fails"])
@pytest.mark.parametrize("garbage", [False, True])
def test_signer_falls_back_to_cryptography(monkeypatch: pytest.MonkeyPatch, native_calls: list[bytes],
                                           unavailable: str, garbage: bool) -> None:
    if unavailable == "no libcrypto":
        monkeypatch.setattr(native_verify, "libcrypto", lambda: None)
    else:
        monkeypatch.setattr(native_verify, "EcVerifier", refuse)
    key = ec.generate_private_key(ec.SECP384R1())
    signer = device_private_key(key.public_key(), SoftwareDevice(key, raw_ecdsa=True, garbage=garbage))
    if garbage:
        with pytest.raises(SignatureCheckFailed):
            signer.sign(b"m", ec.ECDSA(hashes.SHA384()))
    else:
        key.public_key().verify(signer.sign(b"m", ec.ECDSA(hashes.SHA384())), b"m", ec.ECDSA(hashes.SHA384()))
    assert native_calls == []


def test_only_openssl_3_libcrypto_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert native_verify._open("libcrypto-that-does-not-exist.so") is None
    assert native_verify._open("libc.so.6") is None  # no OpenSSL_version_num
    native_verify.libcrypto.cache_clear()
    monkeypatch.setattr(native_verify, "_open", lambda name: None)
    try:
        assert native_verify.libcrypto() is None
        assert ec_verifier(ec.generate_private_key(ec.SECP256R1()).public_key()) is None
    finally:
        native_verify.libcrypto.cache_clear()
