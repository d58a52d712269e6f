"""The ``step`` format: a YubiKey PIV slot attestation (smallstep's, from ``step ca certificate
--attestation-uri yubikey:...``).

``attStmt`` = ``{"alg": COSE alg, "sig": CBOR(byte string), "x5c": [slot cert, F9 cert, ...]}``:
the slot attestation certificate (the attested key, Yubico's extensions) is signed by the
device's F9 attestation certificate, which chains to the attestation roots; ``sig`` is the
attested key's signature over the key authorization (ECDSA P-256 and RSA over its SHA-256,
Ed25519 over the text), which binds the attestation to the challenge and the account key.
"""

from __future__ import annotations

from typing import Any, Sequence

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from appliance.acme.attestation.chain import attested_key, refused, verify_chain, x5c_certificates
from appliance.acme.attestation.statement import Attestation, Challenge

#: Yubico's PIV attestation extensions (https://developers.yubico.com/PIV/Introduction/PIV_attestation.html).
OID_FIRMWARE = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.3")
OID_SERIAL = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.7")
OID_POLICY = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.8")
OID_FORM_FACTOR = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.9")
PIN_POLICIES = {1: "never", 2: "once", 3: "always", 4: "match-once", 5: "match-always"}
TOUCH_POLICIES = {1: "never", 2: "always", 3: "cached"}


def _extension(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        value = certificate.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _der_integer(value: bytes) -> int:
    """A DER INTEGER (the serial number extension's value)."""
    if len(value) < 3 or value[0] != 0x02 or value[1] != len(value) - 2 or value[1] > 8:
        raise refused("the attestation's serial number extension is malformed")
    return int.from_bytes(value[2:], "big", signed=True)


def _verify_signature(public_key: object, signature: bytes, key_authorization: str) -> None:
    data = key_authorization.encode()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1):
                raise refused(f"unsupported elliptic curve {public_key.curve.name}")
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            raise refused(f"unsupported attested key type {type(public_key).__name__}")
    except InvalidSignature:
        raise refused("sig is not the attested key's signature of the key authorization") from None


def facts(certificate: x509.Certificate) -> dict[str, Any]:
    """Serial number, firmware, PIN and touch policies (and form factor) from Yubico's extensions."""
    found: dict[str, Any] = {}
    serial = _extension(certificate, OID_SERIAL)
    if serial is not None:
        found["serialNumber"] = str(_der_integer(serial))
    firmware = _extension(certificate, OID_FIRMWARE)
    if firmware is not None and len(firmware) == 3:
        found["firmware"] = ".".join(str(part) for part in firmware)
    policy = _extension(certificate, OID_POLICY)
    if policy is not None and len(policy) == 2:
        found["pinPolicy"] = PIN_POLICIES.get(policy[0], str(policy[0]))
        found["touchPolicy"] = TOUCH_POLICIES.get(policy[1], str(policy[1]))
    form_factor = _extension(certificate, OID_FORM_FACTOR)
    if form_factor is not None and len(form_factor) == 1:
        found["formFactor"] = form_factor[0]
    return found


def verify(statement: dict[Any, Any], roots: Sequence[x509.Certificate], challenge: Challenge) -> Attestation:
    chain = x5c_certificates(statement)
    verify_chain(chain, roots, challenge.now)
    encoded = statement.get("sig")
    try:
        signature = cbor2.loads(encoded) if isinstance(encoded, bytes) else None
    except (ValueError, cbor2.CBORDecodeError):
        signature = None
    if not isinstance(signature, bytes):
        raise refused("sig must be a CBOR-encoded byte string")
    leaf = chain[0]
    public_key = attested_key(leaf)
    _verify_signature(public_key, signature, challenge.key_authorization)
    found = facts(leaf)
    serial = found.get("serialNumber")
    return Attestation("step", public_key, (serial,) if serial else (), found)
