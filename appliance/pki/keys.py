"""Which keys the CA accepts in requests, and which hash it signs with."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PrivateKeyTypes

from appliance.errors import BadRequest, Forbidden

MIN_RSA_BITS = 2048
_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
#: FIPS 204 ML-DSA (pure, RFC 9881): the parameter sets by their number, and ``cryptography``'s
#: key classes in the same order. They sign the whole message, with no separate hash.
ML_DSA_SETS = (44, 65, 87)
ML_DSA_PRIVATE_KEYS = (mldsa.MLDSA44PrivateKey, mldsa.MLDSA65PrivateKey, mldsa.MLDSA87PrivateKey)
ML_DSA_PUBLIC_KEYS = (mldsa.MLDSA44PublicKey, mldsa.MLDSA65PublicKey, mldsa.MLDSA87PublicKey)
_WHOLE_MESSAGE_SIGNERS = (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey, *ML_DSA_PRIVATE_KEYS)


def ml_dsa_set(key: object) -> int | None:
    """44, 65 or 87 for an ML-DSA public or private key; None for any other key."""
    for number, private, public in zip(ML_DSA_SETS, ML_DSA_PRIVATE_KEYS, ML_DSA_PUBLIC_KEYS):
        if isinstance(key, (private, public)):
            return number
    return None


def new_ml_dsa_key(number: int) -> PrivateKeyTypes:
    """A fresh software ML-DSA key of parameter set ``number`` (44, 65 or 87)."""
    return ML_DSA_PRIVATE_KEYS[ML_DSA_SETS.index(number)].generate()


def check_public_key(key: CertificatePublicKeyTypes) -> None:
    """ECDSA P-256/384/521, RSA >= 2048 bits, Ed25519 or ML-DSA-44/65/87; else ``Forbidden`` (as step-ca)."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise Forbidden(f"RSA keys must be at least {MIN_RSA_BITS} bits")
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _CURVES):
            raise Forbidden(f"unsupported elliptic curve {key.curve.name}")
        return
    if isinstance(key, (ed25519.Ed25519PublicKey, *ML_DSA_PUBLIC_KEYS)):
        return
    raise Forbidden(f"unsupported public key type {type(key).__name__}")


def verified_csr_key(csr: x509.CertificateSigningRequest) -> CertificatePublicKeyTypes:
    """The CSR's public key once its self-signature verifies; ``BadRequest`` if the key or
    signature cannot be read (a curve or algorithm ``cryptography`` does not support) or
    does not verify. Whether the CA accepts the key is :func:`check_public_key`'s to say."""
    try:
        key = csr.public_key()
        valid = csr.is_signature_valid
    except UnsupportedAlgorithm as exc:
        raise BadRequest(f"unsupported key or signature algorithm in the certificate request: {exc}") from None
    except (ValueError, TypeError, x509.UnsupportedGeneralNameType) as exc:
        raise BadRequest(f"malformed certificate request: {exc}") from None
    if not valid:
        raise BadRequest("invalid csr: bad signature")
    return key


def signature_hash(signer: PrivateKeyTypes) -> hashes.HashAlgorithm | None:
    """The hash for certificates and CRLs signed by ``signer`` (None for EdDSA and ML-DSA)."""
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        return {384: hashes.SHA384(), 521: hashes.SHA512()}.get(signer.curve.key_size, hashes.SHA256())
    if isinstance(signer, _WHOLE_MESSAGE_SIGNERS):
        return None
    return hashes.SHA256()


def spki_sha256(key: CertificatePublicKeyTypes) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo, hex: the key's identity whatever certificate carries it."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
