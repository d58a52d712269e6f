"""Password-encrypted JWE (PBES2-HS256+A128KW, A256GCM), as step writes keys.

This is the ``encryptedKey`` of a JWK provisioner and the output of
``step crypto jwk create``: compact serialisation, protected header
``{"alg","cty","enc","p2c","p2s"}`` with a 16-byte salt. Implemented on
``cryptography`` primitives (RFC 7518 section 4.8) because jwcrypto caps the
PBKDF2 iteration count below what step uses.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from appliance.jose.b64 import b64decode, b64encode
from appliance.jose.errors import DecryptionFailed, InvalidKey
from appliance.jose.jwk import JWK, key_from_dict
from appliance.pki import bounded_json

ALGORITHM = "PBES2-HS256+A128KW"
ENCRYPTION = "A256GCM"
JWK_CONTENT_TYPE = "jwk+json"
#: OWASP 2023 for PBKDF2-HMAC-SHA256. smallstep/crypto wrote 100000 for years; any p2c in
#: [MIN_ITERATIONS, MAX_ITERATIONS] decrypts here.
DEFAULT_ITERATIONS = 600_000
SALT_SIZE = 16
#: Refuse absurd work factors in JWEs we are asked to decrypt.
MAX_ITERATIONS = 10_000_000
MIN_ITERATIONS = 1_000


def _kek(password: bytes, salt: bytes, iterations: int) -> bytes:
    salt_input = ALGORITHM.encode("ascii") + b"\x00" + salt
    return PBKDF2HMAC(hashes.SHA256(), length=16, salt=salt_input, iterations=iterations).derive(password)


def encrypt(data: bytes, password: bytes, *, content_type: str | None = None,
            iterations: int = DEFAULT_ITERATIONS) -> str:
    """Encrypt ``data`` under ``password``; the compact JWE."""
    if not password:
        raise DecryptionFailed("a password is required to encrypt")
    salt = os.urandom(SALT_SIZE)
    header: dict[str, Any] = {"alg": ALGORITHM, "enc": ENCRYPTION, "p2c": iterations, "p2s": b64encode(salt)}
    if content_type:
        header["cty"] = content_type
    protected = b64encode(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    cek = AESGCM.generate_key(bit_length=256)
    encrypted_key = aes_key_wrap(_kek(password, salt, iterations), cek)
    iv = os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, data, protected.encode("ascii"))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return ".".join([protected, b64encode(encrypted_key), b64encode(iv), b64encode(ciphertext), b64encode(tag)])


def parse_header(jwe: str) -> dict[str, Any]:
    """The protected header of a compact JWE; ``DecryptionFailed`` if malformed."""
    parts = jwe.strip().split(".")
    if len(parts) != 5:
        raise DecryptionFailed("not a compact JWE")
    try:
        header = bounded_json.loads(b64decode(parts[0]))
    except ValueError:
        raise DecryptionFailed("malformed JWE header") from None
    if not isinstance(header, dict):
        raise DecryptionFailed("malformed JWE header")
    return header


def decrypt(jwe: str, password: bytes) -> bytes:
    """Decrypt a compact PBES2-HS256+A128KW / A256GCM JWE."""
    header = parse_header(jwe)
    if header.get("alg") != ALGORITHM or header.get("enc") != ENCRYPTION:
        raise DecryptionFailed(f"unsupported JWE algorithm (need {ALGORITHM} with {ENCRYPTION})")
    iterations = header.get("p2c")
    if not isinstance(iterations, int) or not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise DecryptionFailed("JWE p2c is missing or out of range")
    protected, encrypted_key, iv, ciphertext, tag = jwe.strip().split(".")
    try:
        salt = b64decode(str(header.get("p2s", "")))
        cek = aes_key_unwrap(_kek(password, salt, iterations), b64decode(encrypted_key))
        return AESGCM(cek).decrypt(b64decode(iv), b64decode(ciphertext) + b64decode(tag), protected.encode("ascii"))
    except (InvalidUnwrap, InvalidTag):
        raise DecryptionFailed("wrong password, or the JWE is corrupt") from None
    except ValueError:
        raise DecryptionFailed("malformed JWE") from None


def encrypt_jwk(key: JWK, password: bytes, *, iterations: int = DEFAULT_ITERATIONS) -> str:
    """A private JWK as step's ``encryptedKey`` (cty ``jwk+json``)."""
    if not key.has_private:
        raise InvalidKey("only a private JWK needs encrypting")
    data = json.dumps(key.export(private_key=True, as_dict=True), separators=(",", ":")).encode()
    return encrypt(data, password, content_type=JWK_CONTENT_TYPE, iterations=iterations)


def decrypt_jwk(jwe: str, password: bytes) -> JWK:
    """The private JWK inside an ``encryptedKey``."""
    try:
        members = bounded_json.loads(decrypt(jwe, password))
    except ValueError:
        raise DecryptionFailed("the JWE does not contain a JWK") from None
    key = key_from_dict(members)
    if not key.has_private:
        raise InvalidKey("the encrypted JWK has no private part")
    return key
