"""JOSE for the CA: JWK generation, password-encrypted keys (JWE), JWS tokens.

Compatible with step's formats: ``step crypto jwk create`` keys, the
``encryptedKey`` of a JWK provisioner, and one-time tokens of ``step ca token``.
"""

from __future__ import annotations

from appliance.jose.errors import DecryptionFailed, InvalidKey, InvalidToken
from appliance.jose.jwe import decrypt, decrypt_jwk, encrypt, encrypt_jwk
from appliance.jose.jwk import algorithm_for, generate_jwk, key_from_dict, public_dict, thumbprint
from appliance.jose.jws import (
    SIGNATURE_ALGORITHMS,
    PublicKey,
    UnverifiedToken,
    sign,
    sign_hmac,
    sign_with_key,
    sign_xeddsa,
    verification_key,
)

__all__ = [
    "SIGNATURE_ALGORITHMS",
    "DecryptionFailed",
    "InvalidKey",
    "InvalidToken",
    "PublicKey",
    "UnverifiedToken",
    "algorithm_for",
    "decrypt",
    "decrypt_jwk",
    "encrypt",
    "encrypt_jwk",
    "generate_jwk",
    "key_from_dict",
    "public_dict",
    "sign",
    "sign_hmac",
    "sign_with_key",
    "sign_xeddsa",
    "thumbprint",
    "verification_key",
]
