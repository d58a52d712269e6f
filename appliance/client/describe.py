"""``certificate inspect``: a certificate as JSON-ready data, and as text.

Extensions are described by a table keyed by extension class; the ones it
does not know are shown by OID with their DER value in hex."""

from __future__ import annotations

from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from appliance.pki.keys import ml_dsa_set
from appliance.pki.pem import fingerprint
from appliance.provisioner.extension import PROVISIONER_OID, ProvisionerExtension
from appliance.provisioner.types import TYPE_NAMES_BY_CODE

_KEY_USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
               "key_agreement", "key_cert_sign", "crl_sign")


def _key_usage(value: x509.KeyUsage) -> list[str]:
    usages = [name for name in _KEY_USAGES if getattr(value, name)]
    if value.key_agreement:
        usages += [name for name in ("encipher_only", "decipher_only") if getattr(value, name)]
    return usages


def _names(value: x509.SubjectAlternativeName | x509.IssuerAlternativeName) -> dict[str, list[str]]:
    kinds: dict[str, type[x509.DNSName | x509.IPAddress | x509.RFC822Name | x509.UniformResourceIdentifier]] = {
        "dns_names": x509.DNSName, "ip_addresses": x509.IPAddress, "email_addresses": x509.RFC822Name,
        "uris": x509.UniformResourceIdentifier,
    }
    found = {label: [str(v) for v in value.get_values_for_type(kind)] for label, kind in kinds.items()}
    return {label: values for label, values in found.items() if values}


def _access(value: x509.AuthorityInformationAccess) -> list[dict[str, str]]:
    return [{"method": d.access_method._name, "location": str(d.access_location.value)} for d in value]


def _crl_points(value: x509.CRLDistributionPoints) -> list[str]:
    return [str(name.value) for point in value for name in (point.full_name or [])]


_EXTENSIONS: dict[type[x509.ExtensionType], tuple[str, Callable[[Any], Any]]] = {
    x509.BasicConstraints: ("basic_constraints", lambda v: {"ca": v.ca, "path_len": v.path_length}),
    x509.KeyUsage: ("key_usage", _key_usage),
    x509.ExtendedKeyUsage: ("extended_key_usage", lambda v: [oid._name for oid in v]),
    x509.SubjectAlternativeName: ("subject_alt_names", _names),
    x509.IssuerAlternativeName: ("issuer_alt_names", _names),
    x509.SubjectKeyIdentifier: ("subject_key_id", lambda v: v.digest.hex(":")),
    x509.AuthorityKeyIdentifier: ("authority_key_id", lambda v: (v.key_identifier or b"").hex(":")),
    x509.AuthorityInformationAccess: ("authority_info_access", _access),
    x509.CRLDistributionPoints: ("crl_distribution_points", _crl_points),
}


def _provisioner(value: x509.UnrecognizedExtension) -> dict[str, Any]:
    extension = ProvisionerExtension.from_der(value.value)
    return {"type": TYPE_NAMES_BY_CODE.get(extension.type, str(extension.type)), "name": extension.name,
            "credential_id": extension.credential_id}


def _extension(extension: x509.Extension[x509.ExtensionType]) -> tuple[str, Any]:
    value = extension.value
    if extension.oid == PROVISIONER_OID and isinstance(value, x509.UnrecognizedExtension):
        return "step_provisioner", _provisioner(value)
    known = _EXTENSIONS.get(type(value))
    if known is not None:
        return known[0], known[1](value)
    return extension.oid.dotted_string, {"critical": extension.critical, "value": value.public_bytes().hex()}


def _public_key(key: CertificatePublicKeyTypes) -> dict[str, Any]:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"key_algorithm": "ECDSA", "curve": key.curve.name, "size": key.curve.key_size}
    if isinstance(key, rsa.RSAPublicKey):
        return {"key_algorithm": "RSA", "size": key.key_size, "exponent": key.public_numbers().e}
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return {"key_algorithm": "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"}
    number = ml_dsa_set(key)
    return {"key_algorithm": f"ML-DSA-{number}" if number else type(key).__name__}


def describe(certificate: x509.Certificate) -> dict[str, Any]:
    """The certificate's fields (step's ``certificate inspect --format json`` names, snake_case)."""
    return {
        "version": certificate.version.value + 1,
        "serial_number": str(certificate.serial_number),
        "signature_algorithm": certificate.signature_algorithm_oid._name,
        "issuer": certificate.issuer.rfc4514_string(),
        "validity": {"start": certificate.not_valid_before_utc.isoformat(),
                     "end": certificate.not_valid_after_utc.isoformat()},
        "subject": certificate.subject.rfc4514_string(),
        "subject_key_info": _public_key(certificate.public_key()),
        "extensions": dict(_extension(e) for e in certificate.extensions),
        "fingerprint_sha256": fingerprint(certificate),
    }


def _lines(value: Any, indent: int) -> list[str]:
    pad = "    " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if item is None:
                continue
            label = str(key).replace("_", " ").capitalize() if "." not in str(key) else str(key)
            if isinstance(item, (dict, list)) and item:
                lines += [f"{pad}{label}:", *_lines(item, indent + 1)]
            else:
                lines.append(f"{pad}{label}: {item}")
        return lines
    if isinstance(value, list):
        return [line for item in value for line in _lines(item, indent)]
    return [f"{pad}{value}"]


def render_text(description: dict[str, Any]) -> str:
    """An indented, human-readable rendering of :func:`describe`."""
    return "\n".join(["Certificate:", *_lines(description, 1)]) + "\n"
