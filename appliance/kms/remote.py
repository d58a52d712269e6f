"""Shared by cloud KMSs that sign a host-made digest under a named algorithm (AWS, Azure).

Such services bind the hash to the key: an ECDSA key signs only with the hash
of its curve's size (P-256/SHA-256, P-384/SHA-384), and RSA takes PKCS#1 v1.5
or PSS with salt = digest length. :func:`jose_algorithm` names the operation
the ``cryptography`` caller asked for, or refuses it before any network call;
:func:`jose_encryption` does the same for RSA decryption (JWA's ``RSA1_5``,
``RSA-OAEP``, ``RSA-OAEP-256``).
"""

from __future__ import annotations

import abc

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from appliance.kms.algorithms import SignatureAlgorithm
from appliance.kms.errors import UnsupportedKeyOperation
from appliance.kms.faults import Fault, with_one_retry
from appliance.kms.signer import RsaPadding, oaep_hash

_EC_HASH_BITS = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 512}


def jose_algorithm(
    public_key: PublicKeyTypes, hash_alg: hashes.HashAlgorithm, rsa_padding: RsaPadding | None
) -> SignatureAlgorithm:
    """ES256/ES384/ES512, RS256..., PS256... for a digest made with ``hash_alg``."""
    if hash_alg.name not in ("sha256", "sha384", "sha512"):
        raise UnsupportedKeyOperation(f"cloud KMS keys sign SHA-256, SHA-384 or SHA-512 digests, not {hash_alg.name}")
    bits = hash_alg.digest_size * 8
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        expected = _EC_HASH_BITS.get(public_key.curve.name)
        if expected != bits:
            raise UnsupportedKeyOperation(
                f"a cloud KMS {public_key.curve.name} key signs only SHA-{expected} digests, not {hash_alg.name}"
            )
        return SignatureAlgorithm(f"ES{bits}")
    if isinstance(public_key, rsa.RSAPublicKey):
        return SignatureAlgorithm(f"{'PS' if rsa_padding is RsaPadding.PSS else 'RS'}{bits}")
    raise UnsupportedKeyOperation(f"unsupported cloud KMS key {type(public_key).__name__}")


_OAEP_NAMES = {"sha1": "RSA-OAEP", "sha256": "RSA-OAEP-256"}


def jose_encryption(rsa_padding: padding.AsymmetricPadding) -> str:
    """``RSA1_5`` (PKCS#1 v1.5), ``RSA-OAEP`` (SHA-1) or ``RSA-OAEP-256`` (SHA-256, MGF1 too)."""
    if isinstance(rsa_padding, padding.PKCS1v15):
        return "RSA1_5"
    if isinstance(rsa_padding, padding.OAEP):
        name = _OAEP_NAMES.get(oaep_hash(rsa_padding).name)
        if name is not None:
            return name
    raise UnsupportedKeyOperation(f"cloud KMS keys decrypt RSA PKCS#1 v1.5 or OAEP with SHA-1 or SHA-256, "
                                  f"not {rsa_padding.name} with {getattr(rsa_padding, 'algorithm', None)}")


class RemoteDigestKey(abc.ABC):
    """A :class:`~appliance.kms.signer.DeviceKey` for a cloud key that signs digests (or
    decrypts, an RSA key whose usage is decryption).

    A transient fault or expired credentials heal once within the call: the
    client is made anew (with fresh credentials) and the operation asked again."""

    def __init__(self, public_key: PublicKeyTypes, what: str) -> None:
        self.public_key = public_key
        self.what = what

    def sign_digest(
        self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None
    ) -> bytes:
        named = jose_algorithm(self.public_key, algorithm, rsa_padding)
        return with_one_retry(self.what, lambda: self.sign_with(named, digest), self.reconnect)

    @abc.abstractmethod
    def sign_with(self, algorithm: SignatureAlgorithm, digest: bytes) -> bytes:
        """The service's signature (DER or raw r||s for ECDSA) over ``digest``."""

    def decrypt(self, ciphertext: bytes, rsa_padding: padding.AsymmetricPadding) -> bytes:
        """The plaintext, decrypted by the service; ``ValueError`` if it does not open."""
        if not isinstance(self.public_key, rsa.RSAPublicKey):
            raise UnsupportedKeyOperation(f"{self.what} is not an RSA key: only RSA keys decrypt")
        named = jose_encryption(rsa_padding)
        return with_one_retry(self.what, lambda: self.decrypt_with(named, ciphertext), self.reconnect)

    @abc.abstractmethod
    def decrypt_with(self, algorithm: str, ciphertext: bytes) -> bytes:
        """The service's decryption with a JWA algorithm; ``ValueError`` for a ciphertext
        that does not open, ``UnsupportedKeyOperation`` for an algorithm the key refuses."""

    @abc.abstractmethod
    def reconnect(self, fault: Fault) -> None:
        """A new client, with credentials obtained again, for the retry after ``fault``."""

    def sign_message(self, message: bytes) -> bytes:
        raise UnsupportedKeyOperation("cloud KMS keys here are EC or RSA: no Ed25519 signatures")
