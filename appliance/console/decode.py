"""A certificate decoded for reading: the fields an operator checks, and every extension."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from appliance.pki.keys import ml_dsa_set


@dataclass(frozen=True)
class Decoded:
    fields: list[tuple[str, str]]
    extensions: list[tuple[str, bool, str]]  # name, critical, value


def _key(key: CertificatePublicKeyTypes) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size} bits"
    number = ml_dsa_set(key)
    return f"ML-DSA-{number}" if number else type(key).__name__


def _hex(serial: int) -> str:
    text = f"{serial:x}"
    text = "0" * (len(text) % 2) + text
    return ":".join(text[i:i + 2] for i in range(0, len(text), 2))


def decode(certificate: x509.Certificate) -> Decoded:
    signature = certificate.signature_hash_algorithm
    fields = [
        ("Subject", certificate.subject.rfc4514_string()),
        ("Issuer", certificate.issuer.rfc4514_string()),
        ("Serial (decimal)", str(certificate.serial_number)),
        ("Serial (hex)", _hex(certificate.serial_number)),
        ("Not before", certificate.not_valid_before_utc.isoformat()),
        ("Not after", certificate.not_valid_after_utc.isoformat()),
        ("Public key", _key(certificate.public_key())),
        ("Signature", f"{certificate.signature_algorithm_oid._name}"
                      + (f" ({signature.name})" if signature is not None else "")),
        ("SHA-256 fingerprint", certificate.fingerprint(hashes.SHA256()).hex(":")),
    ]
    extensions = [(ext.oid._name if ext.oid._name != "Unknown OID" else ext.oid.dotted_string, ext.critical,
                   _extension_value(ext.value)) for ext in certificate.extensions]
    return Decoded(fields, extensions)


def _extension_value(value: x509.ExtensionType) -> str:
    if isinstance(value, x509.SubjectAlternativeName):
        return ", ".join(f"{type(name).__name__.removesuffix('Name')}:{name.value}" for name in value)
    if isinstance(value, x509.KeyUsage):
        names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                 "key_cert_sign", "crl_sign")
        used = [n for n in names if getattr(value, n)]
        if value.key_agreement:
            used += [n for n in ("encipher_only", "decipher_only") if getattr(value, n)]
        return ", ".join(used)
    if isinstance(value, x509.ExtendedKeyUsage):
        return ", ".join(oid._name for oid in value)
    if isinstance(value, x509.BasicConstraints):
        return f"CA: {value.ca}" + (f", path length {value.path_length}" if value.path_length is not None else "")
    if isinstance(value, (x509.SubjectKeyIdentifier,)):
        return value.digest.hex(":")
    if isinstance(value, x509.AuthorityKeyIdentifier):
        return value.key_identifier.hex(":") if value.key_identifier else "(issuer and serial)"
    if isinstance(value, x509.UnrecognizedExtension):
        return value.value.hex()
    return str(value)
