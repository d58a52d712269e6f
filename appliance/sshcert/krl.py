"""OpenSSH Key Revocation Lists, written to OpenSSH's PROTOCOL.krl (format version 1), as
``ssh-keygen -k`` makes them and ``sshd``'s ``RevokedKeys`` and ``ssh-keygen -Q`` read them.

Revoked certificates are listed by serial under the key of the CA that signed them
(``KRL_SECTION_CERTIFICATES`` with a ``KRL_SECTION_CERT_SERIAL_LIST``); revoked keys by their
blob (``KRL_SECTION_EXPLICIT_KEY``, what ``ssh-keygen -k`` writes for a plain key), which
also revokes every certificate for that key.
"""

from __future__ import annotations

import datetime
import struct
from dataclasses import dataclass
from typing import Iterable

KRL_MAGIC = 0x5353484B524C0A00  # "SSHKRL\n\0"
KRL_FORMAT_VERSION = 1
SECTION_CERTIFICATES = 1
SECTION_EXPLICIT_KEY = 2
CERT_SERIAL_LIST = 0x20


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


@dataclass(frozen=True)
class RevokedCertificates:
    """The revoked serials of the certificates one CA key (wire form) signed."""

    ca_key: bytes
    serials: frozenset[int]


def _certificates_section(revoked: RevokedCertificates) -> bytes:
    serials = b"".join(struct.pack(">Q", serial) for serial in sorted(revoked.serials))
    body = _string(revoked.ca_key) + _string(b"") + bytes([CERT_SERIAL_LIST]) + _string(serials)
    return bytes([SECTION_CERTIFICATES]) + _string(body)


def build_krl(certificates: Iterable[RevokedCertificates], revoked_keys: Iterable[bytes], *, version: int,
              generated: datetime.datetime, comment: str = "") -> bytes:
    """A KRL revoking ``certificates`` and the keys whose wire forms are ``revoked_keys``;
    ``version`` only grows as revocations are added (its ``krl_version``)."""
    header = struct.pack(">QIQQQ", KRL_MAGIC, KRL_FORMAT_VERSION, version, int(generated.timestamp()), 0)
    out = [header, _string(b""), _string(comment.encode())]
    for revoked in sorted(certificates, key=lambda item: item.ca_key):
        if revoked.serials:
            out.append(_certificates_section(revoked))
    blobs = sorted(set(revoked_keys))  # OpenSSH's order: memcmp, then the shorter first
    if blobs:
        out.append(bytes([SECTION_EXPLICIT_KEY]) + _string(b"".join(_string(blob) for blob in blobs)))
    return b"".join(out)
