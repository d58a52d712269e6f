"""KMS layer: URI -> KeyManager -> ``cryptography``-compatible private key."""

from __future__ import annotations

from appliance.kms.algorithms import KeyType, SignatureAlgorithm
from appliance.kms.interface import Attester, CertificateStore, CreatedKey, Decrypter, KeyDeleter, KeyManager, TokenInfo
from appliance.kms.registry import open_key_manager
from appliance.kms.uri import KmsUri, parse_uri

__all__ = [
    "Attester",
    "CertificateStore",
    "CreatedKey",
    "Decrypter",
    "KeyDeleter",
    "KeyManager",
    "KeyType",
    "KmsUri",
    "SignatureAlgorithm",
    "TokenInfo",
    "open_key_manager",
    "parse_uri",
]
