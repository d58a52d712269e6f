"""The DER DigestInfo prefixes of RSA PKCS#1 v1.5 signatures (RFC 8017 section 9.2, note 1).

A device that signs with raw RSA (CKM_RSA_PKCS, a PIV card) is given
``prefix + digest``; the prefix encodes the hash's OID and the digest length.
Keyed by ``cryptography``'s hash name.
"""

from __future__ import annotations

DIGEST_INFO_PREFIXES: dict[str, bytes] = {
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
