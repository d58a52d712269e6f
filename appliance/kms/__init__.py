"""KMS layer: URI -> KeyManager -> ``cryptography``-compatible private key."""

from __future__ import annotations

from appliance.kms.algorithms import KeyType, SignatureAlgorithm
from appliance.kms.interface import (
    EVERY_DECRYPTION_PADDING, Attester, CertificateStore, CreatedKey, Decrypter, DecryptionPadding, KeyDeleter, KeyManager,
    TokenInfo,
)
from appliance.kms.registry import open_key_manager
from appliance.kms.uri import KmsUri, parse_uri

__all__ = [
    "Attester",
    "CertificateStore",
    "CreatedKey",
    "Decrypter",
    "DecryptionPadding",
    "EVERY_DECRYPTION_PADDING",
    "KeyDeleter",
    "KeyManager",
    "KeyType",
    "KmsUri",
    "SignatureAlgorithm",
    "TokenInfo",
    "open_key_manager",
    "parse_uri",
]
