"""Which keys the CA accepts in requests, and which hash it signs with."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PrivateKeyTypes

from appliance.errors import BadRequest, Forbidden

MIN_RSA_BITS = 2048
_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


def check_public_key(key: CertificatePublicKeyTypes) -> None:
    """ECDSA P-256/384/521, RSA >= 2048 bits or Ed25519; else ``Forbidden`` (as step-ca)."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise Forbidden(f"RSA keys must be at least {MIN_RSA_BITS} bits")
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _CURVES):
            raise Forbidden(f"unsupported elliptic curve {key.curve.name}")
        return
    if isinstance(key, ed25519.Ed25519PublicKey):
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
    """The hash for certificates and CRLs signed by ``signer`` (None for EdDSA)."""
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        return {384: hashes.SHA384(), 521: hashes.SHA512()}.get(signer.curve.key_size, hashes.SHA256())
    if isinstance(signer, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    return hashes.SHA256()


def spki_sha256(key: CertificatePublicKeyTypes) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo, hex: the key's identity whatever certificate carries it."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
