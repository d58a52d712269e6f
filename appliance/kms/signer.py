"""Device-backed private keys that ``cryptography``'s builders use unchanged.

A backend implements :class:`DeviceKey` for one key on its device: sign a
digest (EC, RSA) or a message (Ed25519). :func:`device_private_key` wraps it
in a subclass of ``ec.EllipticCurvePrivateKey`` / ``rsa.RSAPrivateKey`` /
``ed25519.Ed25519PrivateKey`` that hashes on the host, normalises ECDSA to
DER, and verifies every signature against the public key before returning it.
The device call goes through :func:`appliance.pki.blocking.blocking`: under
:func:`~appliance.pki.blocking.run_on_loop` it runs in a thread, the rest on the loop.
"""

from __future__ import annotations

import enum
import functools
import time
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Protocol, TypeVar, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from appliance import metrics
from appliance.kms.errors import SignatureCheckFailed, UnsupportedKeyOperation
from appliance.pki.blocking import blocking
from appliance.pki.lane import DeviceLane

if TYPE_CHECKING:
    from cryptography.utils import Buffer  # bytes | bytearray | memoryview, as cryptography's ``sign`` takes


class RsaPadding(enum.Enum):
    PKCS1V15 = "pkcs1v15"
    PSS = "pss"  # MGF1 with the signature hash, salt length = digest length


class DeviceKey(Protocol):
    """One key on a device. Implement the method that fits the key type. A device that runs
    one call at a time may name a ``lane`` (:class:`~appliance.pki.lane.DeviceLane`) for
    its calls from the event loop (:func:`device_lane`)."""

    def sign_digest(
        self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None
    ) -> bytes:
        """ECDSA (DER or raw r||s) or RSA signature over a digest made on the host."""
        ...

    def sign_message(self, message: bytes) -> bytes:
        """Ed25519 signature over the whole message."""
        ...


@runtime_checkable
class DecryptingDeviceKey(Protocol):
    """A device key that also decrypts (RSA); ``ValueError`` when the ciphertext does not open."""

    def decrypt(self, ciphertext: bytes, rsa_padding: padding.AsymmetricPadding) -> bytes: ...


def _digest(data: Buffer, algorithm: hashes.HashAlgorithm | utils.Prehashed) -> tuple[bytes, hashes.HashAlgorithm]:
    if isinstance(algorithm, utils.Prehashed):
        hash_alg = algorithm._algorithm  # cryptography exposes no public accessor
        digest = bytes(data)  # the same object when data is already bytes
        if len(digest) != hash_alg.digest_size:
            raise UnsupportedKeyOperation(
                f"prehashed data is {len(digest)} bytes, {hash_alg.name} needs {hash_alg.digest_size}"
            )
        return digest, hash_alg
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize(), algorithm


_Sign = TypeVar("_Sign", bound=Callable[..., bytes])


def device_lane(device: DeviceKey) -> DeviceLane | None:
    """The lane of a device that runs one call at a time (its ``lane`` attribute), if it has one."""
    return getattr(device, "lane", None)


def backend_name(device: DeviceKey) -> str:
    """The KMS backend of ``device`` for metrics: its module's name (``appliance.kms.pkcs11_keys`` -> pkcs11)."""
    return type(device).__module__.rsplit(".", 1)[-1].split("_")[0]


def _metered(operation: str) -> Callable[[_Sign], _Sign]:
    """Count and time a device key's ``operation`` (sign or decrypt; an error: the device
    failed, or its answer did not check)."""

    def decorate(method: _Sign) -> _Sign:
        @functools.wraps(method)
        def metered(self: Any, *args: Any) -> bytes:
            backend, began, outcome = backend_name(self._device), time.perf_counter(), "error"
            try:
                result = method(self, *args)
                outcome = "ok"
                return result
            finally:
                metrics.kms_duration.labels(backend, operation).observe(time.perf_counter() - began)
                metrics.kms_operations.labels(backend, operation, outcome).inc()

        return metered  # type: ignore[return-value]

    return decorate


def _no_export() -> NoReturn:
    raise UnsupportedKeyOperation("the private key lives in the device and cannot be exported")


def ecdsa_raw_to_der(signature: bytes) -> bytes:
    """r||s (as PKCS#11, Azure and some KMSs return it) to a DER ECDSA-Sig-Value."""
    if not signature or len(signature) % 2:
        raise SignatureCheckFailed("device returned a malformed ECDSA signature")
    half = len(signature) // 2
    r = int.from_bytes(signature[:half], "big")
    s = int.from_bytes(signature[half:], "big")
    return utils.encode_dss_signature(r, s)


_PREHASHED: dict[tuple[str, int], tuple[utils.Prehashed, ec.ECDSA]] = {}


def _prehashed(hash_alg: hashes.HashAlgorithm) -> tuple[utils.Prehashed, ec.ECDSA]:
    """``Prehashed(hash_alg)`` and ``ECDSA(Prehashed(hash_alg))``, made once per hash
    (both are immutable): the verification of every signature reuses them."""
    cache_key = (hash_alg.name, hash_alg.digest_size)
    found = _PREHASHED.get(cache_key)
    if found is None:
        prehashed = utils.Prehashed(hash_alg)
        found = _PREHASHED[cache_key] = prehashed, ec.ECDSA(prehashed)
    return found


class DeviceEllipticCurveKey(ec.EllipticCurvePrivateKey):
    """An EC private key whose ``sign`` runs on a device."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey, device: DeviceKey, *, deterministic: bool = False) -> None:
        self._public_key = public_key
        self._device = device
        self._deterministic = deterministic
        self._raw_size = 2 * ((public_key.curve.key_size + 7) // 8)  # r||s as PKCS#11 returns it

    @property
    def device(self) -> DeviceKey:
        return self._device

    @_metered("sign")
    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedKeyOperation("only ECDSA signatures are supported")
        if getattr(signature_algorithm, "deterministic_signing", False) and not self._deterministic:
            raise UnsupportedKeyOperation("this device cannot make deterministic (RFC 6979) signatures")
        digest, hash_alg = _digest(data, signature_algorithm.algorithm)
        answer = blocking(self._device.sign_digest, digest, hash_alg, None, lane=device_lane(self._device))
        check = _prehashed(hash_alg)[1]
        # r||s converted first when the length fits (PKCS#11 answers so: saves a
        # failed verify), then the answer as DER.
        if len(answer) == self._raw_size and self._verifies(der := ecdsa_raw_to_der(answer), digest, check):
            return der
        if self._verifies(answer, digest, check):
            return answer
        raise SignatureCheckFailed("device returned an ECDSA signature that does not verify")

    def _verifies(self, der: bytes, digest: bytes, check: ec.ECDSA) -> bool:
        try:
            self._public_key.verify(der, digest, check)
        except (InvalidSignature, ValueError):
            return False
        return True

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public_key.curve

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public_key

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise UnsupportedKeyOperation("key agreement is not supported on device keys")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _no_export()

    def private_bytes(self, encoding: serialization.Encoding, format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        _no_export()

    def __copy__(self) -> DeviceEllipticCurveKey:
        return self

    def __deepcopy__(self, memo: dict) -> DeviceEllipticCurveKey:
        return self


def _rsa_padding(pad: padding.AsymmetricPadding, hash_alg: hashes.HashAlgorithm) -> RsaPadding:
    if isinstance(pad, padding.PKCS1v15):
        return RsaPadding.PKCS1V15
    if isinstance(pad, padding.PSS):
        salt = pad._salt_length  # cryptography exposes no public accessor
        if salt is not padding.PSS.DIGEST_LENGTH and salt != hash_alg.digest_size:
            raise UnsupportedKeyOperation("RSA-PSS on a device needs salt length = digest length")
        mgf = pad.mgf
        if not isinstance(mgf, padding.MGF1) or type(mgf._algorithm) is not type(hash_alg):
            raise UnsupportedKeyOperation("RSA-PSS on a device needs MGF1 with the signature hash")
        return RsaPadding.PSS
    raise UnsupportedKeyOperation(f"unsupported RSA padding {pad.name}")


class DeviceRSAKey(rsa.RSAPrivateKey):
    """An RSA private key whose ``sign`` runs on a device."""

    def __init__(self, public_key: rsa.RSAPublicKey, device: DeviceKey) -> None:
        self._public_key = public_key
        self._device = device

    @property
    def device(self) -> DeviceKey:
        return self._device

    @_metered("sign")
    def sign(self, data: Buffer, padding: padding.AsymmetricPadding,
             algorithm: hashes.HashAlgorithm | utils.Prehashed | utils.NoDigestInfo) -> bytes:
        if not isinstance(algorithm, (hashes.HashAlgorithm, utils.Prehashed)):
            # NoDigestInfo (newer cryptography): PKCS#1 v1.5 without a DigestInfo; devices sign
            # a digest with its DigestInfo, so there is nothing to hash or prefix here.
            raise UnsupportedKeyOperation("RSA signatures without a DigestInfo are not supported")
        digest, hash_alg = _digest(data, algorithm)
        kind = _rsa_padding(padding, hash_alg)
        signature = blocking(self._device.sign_digest, digest, hash_alg, kind, lane=device_lane(self._device))
        check = padding_for(kind, hash_alg)
        try:
            self._public_key.verify(signature, digest, check, _prehashed(hash_alg)[0])
        except InvalidSignature:
            raise SignatureCheckFailed("device returned an RSA signature that does not verify") from None
        return signature

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key

    @_metered("decrypt")
    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        if not isinstance(self._device, DecryptingDeviceKey):
            raise UnsupportedKeyOperation(f"{backend_name(self._device)} device keys do not decrypt")
        return blocking(self._device.decrypt, ciphertext, padding, lane=device_lane(self._device))

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _no_export()

    def private_bytes(self, encoding: serialization.Encoding, format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        _no_export()

    def __copy__(self) -> DeviceRSAKey:
        return self

    def __deepcopy__(self, memo: dict) -> DeviceRSAKey:
        return self


_PKCS1V15 = padding.PKCS1v15()


def oaep_hash(rsa_padding: padding.OAEP) -> hashes.HashAlgorithm:
    """The hash of an RSA-OAEP padding as devices and cloud KMSs take it: the same hash
    for MGF1, and no label; else ``UnsupportedKeyOperation``."""
    mgf = rsa_padding.mgf
    same_mgf = isinstance(mgf, padding.MGF1) and mgf._algorithm.name == rsa_padding.algorithm.name
    if not same_mgf or rsa_padding._label:  # cryptography exposes no public accessors
        raise UnsupportedKeyOperation("RSA-OAEP on a device needs MGF1 with the OAEP hash, and no label")
    return rsa_padding.algorithm


def padding_for(kind: RsaPadding, hash_alg: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    """The ``cryptography`` padding object for a device padding kind."""
    if kind is RsaPadding.PSS:
        return padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=padding.PSS.DIGEST_LENGTH)
    return _PKCS1V15


class DeviceEd25519Key(ed25519.Ed25519PrivateKey):
    """An Ed25519 private key whose ``sign`` runs on a device."""

    def __init__(self, public_key: ed25519.Ed25519PublicKey, device: DeviceKey) -> None:
        self._public_key = public_key
        self._device = device

    @property
    def device(self) -> DeviceKey:
        return self._device

    @_metered("sign")
    def sign(self, data: Buffer) -> bytes:
        # bytes(data) is the same object when data is already bytes
        signature = blocking(self._device.sign_message, bytes(data), lane=device_lane(self._device))
        try:
            self._public_key.verify(signature, data)
        except InvalidSignature:
            raise SignatureCheckFailed("device returned an Ed25519 signature that does not verify") from None
        return signature

    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self._public_key

    def private_bytes(self, encoding: serialization.Encoding, format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        _no_export()

    def private_bytes_raw(self) -> bytes:
        _no_export()

    def __copy__(self) -> DeviceEd25519Key:
        return self

    def __deepcopy__(self, memo: dict) -> DeviceEd25519Key:
        return self


#: The classes of every device-backed key this module makes.
DEVICE_KEYS = (DeviceEllipticCurveKey, DeviceRSAKey, DeviceEd25519Key)


def device_private_key(public_key: PublicKeyTypes, device: DeviceKey, *, deterministic: bool = False) -> PrivateKeyTypes:
    """Wrap ``device`` in the ``cryptography`` private-key class for ``public_key``."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return DeviceEllipticCurveKey(public_key, device, deterministic=deterministic)
    if isinstance(public_key, rsa.RSAPublicKey):
        return DeviceRSAKey(public_key, device)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return DeviceEd25519Key(public_key, device)
    raise UnsupportedKeyOperation(f"unsupported public key {type(public_key).__name__}")
