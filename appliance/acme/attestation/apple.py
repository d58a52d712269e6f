"""The ``apple`` format: Apple Managed Device Attestation (an MDM ``DeviceInformation`` or
ACME payload's attestation), as step-ca verifies it.

``attStmt`` = ``{"x5c": [leaf, intermediate, ...]}``: the leaf certifies the device's key and
carries Apple's extensions, each value the raw bytes (no DER wrapping): serial number
(1.2.840.113635.100.8.9.1), UDID (…8.9.2), SEP OS version (…8.10.2) and the freshness nonce
(…8.11.1), which must be the SHA-256 of the challenge token when present. Apple's format has no
signature over the key authorization: the nonce binds it to the challenge (not to the account).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Sequence

from cryptography import x509

from appliance.acme.attestation.chain import attested_key, refused, verify_chain, x5c_certificates
from appliance.acme.attestation.statement import Attestation, Challenge

OID_SERIAL_NUMBER = x509.ObjectIdentifier("1.2.840.113635.100.8.9.1")
OID_UDID = x509.ObjectIdentifier("1.2.840.113635.100.8.9.2")
OID_SEP_VERSION = x509.ObjectIdentifier("1.2.840.113635.100.8.10.2")
OID_NONCE = x509.ObjectIdentifier("1.2.840.113635.100.8.11.1")
_TEXT = {OID_SERIAL_NUMBER: "serialNumber", OID_UDID: "udid", OID_SEP_VERSION: "sepVersion"}


def _raw(extension: x509.Extension[x509.ExtensionType]) -> bytes:
    value = extension.value
    return value.value if isinstance(value, x509.UnrecognizedExtension) else b""


def verify(statement: dict[Any, Any], roots: Sequence[x509.Certificate], challenge: Challenge) -> Attestation:
    chain = x5c_certificates(statement)
    verify_chain(chain, roots, challenge.now)
    leaf = chain[0]
    facts: dict[str, Any] = {}
    nonce = b""
    for extension in leaf.extensions:
        if extension.oid == OID_NONCE:
            nonce = _raw(extension)
        elif extension.oid in _TEXT:
            facts[_TEXT[extension.oid]] = _raw(extension).decode(errors="replace")
    if nonce and not hmac.compare_digest(nonce, hashlib.sha256(challenge.token.encode()).digest()):
        raise refused("the attestation's nonce is not the SHA-256 of the challenge token")
    identifiers = tuple(facts[k] for k in ("udid", "serialNumber") if facts.get(k))
    return Attestation("apple", attested_key(leaf), identifiers, facts)
