"""softkms: keys in PEM files on disk, PKCS#8 encrypted with a password (AES-256).

The embedded default. Key URIs are ``softkms:path=/keys/int.key`` or a bare
path. The password comes from the key manager (``--password-file``) or the
URI's ``password-value``/``password-source``.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from appliance.kms.algorithms import ML_DSA, KeyType
from appliance.kms.errors import (
    InvalidKmsUri,
    KeyNotFound,
    KmsAuthenticationFailed,
    UnsupportedKeyOperation,
)
from appliance.kms.interface import EVERY_DECRYPTION_PADDING, CreatedKey, DecryptionPadding, KeyManager
from appliance.kms.uri import KmsUri
from appliance.pki.keys import new_ml_dsa_key


def generate_private_key(key_type: KeyType) -> PrivateKeyTypes:
    """A fresh software key of the given type."""
    if key_type.kty == "EC":
        curve = ec.SECP256R1() if key_type is KeyType.EC_P256 else ec.SECP384R1()
        return ec.generate_private_key(curve)
    if key_type.kty == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=key_type.size)
    if key_type.kty == ML_DSA:
        return new_ml_dsa_key(key_type.size)
    return ed25519.Ed25519PrivateKey.generate()


def encrypted_pem(key: PrivateKeyTypes, password: bytes) -> bytes:
    """PKCS#8 PEM encrypted with PBES2 (PBKDF2 + AES-256-CBC)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )


def load_private_key(data: bytes, password: bytes | None) -> PrivateKeyTypes:
    """A PEM or DER private key (PKCS#8, PKCS#1 or SEC1), encrypted or not. A
    password given for a key that is not encrypted is not needed, and ignored,
    as step-ca does (``--password-file`` with keys on disk in the clear)."""
    loader = serialization.load_pem_private_key if b"-----BEGIN" in data else serialization.load_der_private_key
    try:
        return loader(data, password=password)
    except TypeError:
        if password is None:
            raise KmsAuthenticationFailed("the key is encrypted: a password is required") from None
        return load_private_key(data, None)
    except ValueError:
        if password is not None and b"ENCRYPTED" in data:
            raise KmsAuthenticationFailed("wrong password for the key, or the key is corrupt") from None
        raise UnsupportedKeyOperation("not a PEM or DER private key") from None


def write_new_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a file that must not exist yet, with restrictive permissions."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise UnsupportedKeyOperation(f"{path} exists: refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


class SoftKMS(KeyManager):
    """Keys in files; the signer is the loaded ``cryptography`` key itself."""

    scheme = "softkms"

    def _path(self, key: str | KmsUri) -> Path:
        uri = self.key_uri(key)
        path = uri.get("path") or uri.resource
        if not path:
            raise InvalidKmsUri("invalid softkms: URI: 'path' is required")
        return Path(path)

    def _password(self, key: str | KmsUri) -> bytes | None:
        from_uri = self.key_uri(key).secret("password")
        return from_uri.encode() if from_uri is not None else self.password

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyNotFound(f"no key file at {path}") from None
        except OSError as exc:
            raise KeyNotFound(f"cannot read key file {path}: {exc.strerror}") from None

    def get_public_key(self, key: str | KmsUri) -> PublicKeyTypes:
        data = self._read(self._path(key))
        if b"PUBLIC KEY-----" in data:
            return serialization.load_pem_public_key(data)
        if b"CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data).public_key()
        return load_private_key(data, self._password(key)).public_key()

    def create_key(self, key: str | KmsUri, key_type: KeyType) -> CreatedKey:
        path = self._path(key)
        password = self._password(key)
        if not password:
            raise UnsupportedKeyOperation("softkms keys are written encrypted: a password is required")
        private_key = generate_private_key(key_type)
        write_new_file(path, encrypted_pem(private_key, password))
        return CreatedKey(uri=f"softkms:path={path}", public_key=private_key.public_key())

    def create_signer(self, key: str | KmsUri) -> PrivateKeyTypes:
        path = self._path(key)
        return load_private_key(self._read(path), self._password(key))

    def decryption_paddings(self) -> frozenset[DecryptionPadding]:
        return EVERY_DECRYPTION_PADDING

    def create_decrypter(self, key: str | KmsUri) -> rsa.RSAPrivateKey:
        private_key = self.create_signer(key)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise UnsupportedKeyOperation(f"{self._path(key)} is not an RSA key: only RSA keys decrypt")
        return private_key
