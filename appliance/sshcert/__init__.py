"""OpenSSH wire formats: public keys, certificates and KRLs (no web framework, no storage)."""

from __future__ import annotations

from appliance.sshcert.keys import (
    SSHPublicKey,
    authorized_key,
    certificate_blob,
    check_key_strength,
    fingerprint,
    key_blob,
    key_from_authorized,
    key_from_blob,
    parse_certificate,
    ssh_key,
)
from appliance.sshcert.krl import RevokedCertificates, build_krl

__all__ = [
    "RevokedCertificates",
    "SSHPublicKey",
    "authorized_key",
    "certificate_blob",
    "check_key_strength",
    "build_krl",
    "fingerprint",
    "key_blob",
    "key_from_authorized",
    "key_from_blob",
    "parse_certificate",
    "ssh_key",
]
