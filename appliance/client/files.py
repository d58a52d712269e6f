"""Certificate and key files: atomic writes, unencrypted leaf keys (mode 0600),
fingerprints as step prints them."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.pki.pem import fingerprint, load_certificates, to_pem
from appliance.errors import BadRequest
from appliance.kms.softkms import encrypted_pem, load_private_key

__all__ = [
    "fingerprint",
    "load_certificates",
    "load_key_file",
    "normalise_fingerprint",
    "refuse_overwrite",
    "write_atomic",
    "write_certificates",
    "write_private_key",
]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalise_fingerprint(value: str) -> str:
    """A SHA-256 fingerprint as lowercase hex (colons, dashes and case ignored)."""
    text = value.strip().lower().replace(":", "").replace("-", "")
    if not _HEX64.match(text):
        raise BadRequest("the fingerprint must be a SHA-256 hex digest (64 hex digits)")
    return text


def refuse_overwrite(paths: Iterable[Path], force: bool) -> None:
    """``BadRequest`` naming the first existing path, unless ``force``."""
    for path in paths:
        if not force and path.exists():
            raise BadRequest(f"{path} exists: use --force to overwrite it")


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_certificates(path: Path, certificates: Iterable[x509.Certificate]) -> None:
    """A PEM bundle, leaf first (as ``step ca certificate`` writes it)."""
    write_atomic(path, "".join(to_pem(c) for c in certificates).encode("ascii"))


def write_private_key(path: Path, key: PrivateKeyTypes, password: bytes | None = None) -> None:
    """PKCS#8 PEM, mode 0600; AES-256 encrypted when a password is given."""
    if password:
        data = encrypted_pem(key, password)
    else:
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    write_atomic(path, data, mode=0o600)


def load_key_file(path: Path, password: bytes | None = None) -> PrivateKeyTypes:
    """A private key file (PEM or DER; PKCS#8, PKCS#1 or SEC1), encrypted or not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadRequest(f"cannot read key {path}: {exc.strerror}") from None
    return load_private_key(data, password)
