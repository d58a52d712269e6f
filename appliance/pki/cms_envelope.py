"""CMS content encryption as the CA writes it into EnvelopedData (SCEP replies, EST
server-generated keys): a fresh key, CBC with PKCS#7 padding; AES, or DES-EDE3 and single DES
for old SCEP clients."""

from __future__ import annotations

import os

from asn1crypto import algos, cms, core
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes

#: Content-encryption algorithms (asn1crypto's names) and their key sizes in bytes.
CONTENT_ALGORITHMS = {"aes128_cbc": 16, "aes256_cbc": 32, "tripledes_3key": 24, "des": 8}
BLOCK_BITS = {"aes128_cbc": 128, "aes256_cbc": 128, "tripledes_3key": 64, "des": 64}


def content_cipher(name: str, key: bytes, iv: bytes) -> Cipher[modes.CBC]:
    """The CBC cipher of one of ``CONTENT_ALGORITHMS``."""
    if name == "des":
        key = key * 3  # DES-EDE3 with K1 = K2 = K3 is single DES
    algorithm: CipherAlgorithm = algorithms.AES(key) if name.startswith("aes") else TripleDES(key)
    return Cipher(algorithm, modes.CBC(iv))


def encrypted_content_info(name: str, content_type: str, content: bytes) -> tuple[bytes, cms.EncryptedContentInfo]:
    """``content`` encrypted under a fresh key with ``name``: the key (for the recipient info)
    and the EncryptedContentInfo."""
    key, iv = os.urandom(CONTENT_ALGORITHMS[name]), os.urandom(BLOCK_BITS[name] // 8)
    padder = padding.PKCS7(BLOCK_BITS[name]).padder()
    encryptor = content_cipher(name, key, iv).encryptor()
    ciphertext = encryptor.update(padder.update(content) + padder.finalize()) + encryptor.finalize()
    return key, cms.EncryptedContentInfo({
        "content_type": content_type,
        "content_encryption_algorithm": algos.EncryptionAlgorithm(
            {"algorithm": name, "parameters": core.OctetString(iv)}),
        "encrypted_content": ciphertext,
    })
