"""SSH public keys and certificates in OpenSSH's wire and ``authorized_keys`` forms."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    SSHCertificate,
    load_ssh_public_identity,
    load_ssh_public_key,
)

from appliance.errors import BadRequest

#: The key types an SSH CA certifies (OpenSSH's; DSA and the FIDO ``sk-`` types are refused).
SSHPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
#: A key blob or certificate larger than this is not a key (RSA 16384 is about 2 KiB).
MAX_BLOB = 16 * 1024


def _blob_type(blob: bytes) -> str:
    """The type string a wire-format blob starts with."""
    if len(blob) < 4:
        raise ValueError("too short")
    (length,) = struct.unpack(">I", blob[:4])
    if length > 64 or len(blob) < 4 + length:
        raise ValueError("malformed key type")
    return blob[4:4 + length].decode("ascii")


def ssh_key(key: object, what: str = "publicKey") -> SSHPublicKey:
    """``key`` if it is a type OpenSSH knows (ECDSA, RSA, Ed25519); ``BadRequest`` otherwise."""
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise BadRequest(f"{what}: unsupported key type")
    return key


def key_from_blob(blob: bytes, what: str = "publicKey") -> SSHPublicKey:
    """A public key from its wire form (RFC 4253 6.6, as ``ssh.PublicKey.Marshal`` writes it)."""
    if not blob or len(blob) > MAX_BLOB:
        raise BadRequest(f"error parsing {what}: empty or too large")
    try:
        key_type = _blob_type(blob)
        return key_from_authorized(f"{key_type} {base64.b64encode(blob).decode()}", what)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"error parsing {what}: {exc}") from None


def key_from_authorized(line: str, what: str = "publicKey") -> SSHPublicKey:
    """A public key from an ``authorized_keys`` line (``type base64 [comment]``)."""
    if len(line) > 2 * MAX_BLOB:
        raise BadRequest(f"error parsing {what}: too large")
    try:
        key = load_ssh_public_key(line.strip().encode())
    except UnsupportedAlgorithm:
        raise BadRequest(f"error parsing {what}: unsupported key type") from None
    except (ValueError, UnicodeEncodeError) as exc:
        raise BadRequest(f"error parsing {what}: {exc}") from None
    return ssh_key(key, f"error parsing {what}")


def parse_certificate(text: str | bytes, what: str = "certificate") -> SSHCertificate:
    """An OpenSSH certificate from its ``authorized_keys`` form, or its wire form base64-encoded
    (step-ca's JSON ``SSHCertificate``)."""
    data = text.encode() if isinstance(text, str) else text
    data = data.strip()
    if len(data) > 4 * MAX_BLOB:
        raise BadRequest(f"error parsing {what}: too large")
    if b" " not in data:
        try:
            blob = base64.b64decode(data, validate=True)
            data = f"{_blob_type(blob)} ".encode() + data
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise BadRequest(f"error parsing {what}: not an SSH certificate") from None
    try:
        certificate = load_ssh_public_identity(data)
    except UnsupportedAlgorithm:
        raise BadRequest(f"error parsing {what}: unsupported key type") from None
    except ValueError as exc:
        raise BadRequest(f"error parsing {what}: {exc}") from None
    if not isinstance(certificate, SSHCertificate):
        raise BadRequest(f"error parsing {what}: a public key, not a certificate")
    return certificate


def authorized_key(key: SSHPublicKey) -> str:
    """``type base64``, as in ``authorized_keys`` and ``*.pub`` files."""
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


def key_blob(key: SSHPublicKey) -> bytes:
    """The key's wire form."""
    return base64.b64decode(authorized_key(key).split()[1])


def certificate_blob(certificate: SSHCertificate) -> bytes:
    """The certificate's wire form."""
    return base64.b64decode(certificate.public_bytes().split()[1])


def fingerprint(key: SSHPublicKey) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a public key."""
    digest = hashlib.sha256(key_blob(key)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def check_key_strength(key: SSHPublicKey) -> None:
    """step-ca's ``sshDefaultPublicKeyValidator``: RSA keys of at least 2048 bits."""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise BadRequest("ssh certificate key must be at least 2048 bits (256 bytes)")
