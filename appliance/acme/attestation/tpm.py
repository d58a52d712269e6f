"""The ``tpm`` format: a TPM 2.0 key certification (``TPM2_Certify``), as step-ca verifies it
(WebAuthn's ``tpm`` statement, made by ``step ca certificate --attestation-uri tpmkms:...``).

``attStmt`` = ``{"ver": "2.0", "alg": COSE alg, "x5c": [AK cert, ...], "sig": TPMT_SIGNATURE,
"certInfo": TPMS_ATTEST, "pubArea": TPMT_PUBLIC}``: the attestation key's (AK) certificate
chains to the attestation roots and meets WebAuthn's AK certificate profile (v3, empty subject,
not a CA, EKU tcg-kp-AIKCertificate, the TPM's manufacturer, model and version in its SAN);
``certInfo`` is a certification, signed by the AK, of the key whose public area is ``pubArea``
(a signing key that cannot leave the TPM and was generated in it) and its ``extraData`` is the
SHA-256 of the key authorization, which binds it to the challenge and the account key. The
hardware identifiers are the AK certificate's permanent identifiers (RFC 4043 SAN).

TPMS_ATTEST and TPMT_PUBLIC are parsed by python-fido2's WebAuthn ``tpm`` verifier; only the
TPMT_SIGNATURE (which WebAuthn's raw ``sig`` does not use) is read here.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fido2.attestation.tpm import (
    ATTRIBUTES,
    TpmAttestationFormat,
    TpmEccCurve,
    TpmPublicFormat,
    TpmsEccParms,
    TpmsRsaParms,
)

from appliance.acme.attestation.chain import attested_key, refused, verify_chain, x5c_certificates
from appliance.acme.attestation.statement import Attestation, Challenge
from appliance.pki.permanent_identifier import permanent_identifiers

OID_AIK_CERTIFICATE = x509.ObjectIdentifier("2.23.133.8.3")
#: TCG EK credential profile: the TPM's identity in the AK certificate's directoryName SAN.
TPM_DETAILS = {x509.ObjectIdentifier("2.23.133.2.1"): "tpmManufacturer",
               x509.ObjectIdentifier("2.23.133.2.2"): "tpmModel",
               x509.ObjectIdentifier("2.23.133.2.3"): "tpmVersion"}
#: COSE algorithms step-ca accepts for the AK signature (RS1 is deprecated but common in TPMs).
COSE_HASHES: dict[int, hashes.HashAlgorithm] = {-7: hashes.SHA256(), -257: hashes.SHA256(), -65535: hashes.SHA1()}
#: TPM_ALG_ID of signature schemes and hashes in TPMT_SIGNATURE.
TPM_ALG_RSASSA, TPM_ALG_RSAPSS, TPM_ALG_ECDSA = 0x0014, 0x0016, 0x0018
TPM_HASHES = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}
#: A key that is the TPM's own: it never leaves the TPM, cannot be re-parented and was made inside it.
REQUIRED_ATTRIBUTES = ATTRIBUTES.FIXED_TPM | ATTRIBUTES.FIXED_PARENT | ATTRIBUTES.SENSITIVE_DATA_ORIGIN
MIN_RSA_BITS = 2048
SECURE_CURVES = frozenset({TpmEccCurve.NIST_P256, TpmEccCurve.NIST_P384, TpmEccCurve.NIST_P521})


def _bytes(statement: dict[Any, Any], name: str) -> bytes:
    value = statement.get(name)
    if not isinstance(value, bytes) or not value:
        raise refused(f"{name} is missing or empty")
    return value


def ak_facts(certificate: x509.Certificate) -> tuple[list[str], dict[str, str]]:
    """The AK certificate's permanent identifiers and TPM details, once it meets WebAuthn's profile."""
    if certificate.version != x509.Version.v3 or len(certificate.subject) > 0:
        raise refused("AK certificate is not valid: it must be an X.509 v3 certificate with an empty subject")
    extensions = certificate.extensions
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            raise refused("AK certificate is not valid: it must not be a CA")
    except x509.ExtensionNotFound:
        pass
    try:
        usages = list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise refused("AK certificate is not valid: it needs the extended key usage and subject "
                      "alternative name extensions") from None
    if not usages or usages[0] != OID_AIK_CERTIFICATE:
        raise refused("AK certificate is not valid: its extended key usage is not tcg-kp-AIKCertificate (2.23.133.8.3)")
    details = {TPM_DETAILS[a.oid]: str(a.value) for name in san.get_values_for_type(x509.DirectoryName)
               for a in name if a.oid in TPM_DETAILS}
    missing = [name for name in TPM_DETAILS.values() if not details.get(name)]
    if missing:
        raise refused(f"AK certificate is not valid: its SAN names no {', '.join(missing)}")
    return permanent_identifiers(san), details


def _signature(data: bytes, hash_alg: hashes.HashAlgorithm) -> tuple[int, bytes | tuple[int, int]]:
    """A TPMT_SIGNATURE: its scheme and the RSA signature or ECDSA (r, s); its hash must be ``hash_alg``."""
    try:
        scheme, digest = struct.unpack_from("!HH", data)
        if TPM_HASHES.get(digest) != hash_alg.name:
            raise refused(f"sig's hash algorithm 0x{digest:04x} is not the one alg names ({hash_alg.name})")
        parts, offset = [], 4
        for _ in range(2 if scheme == TPM_ALG_ECDSA else 1):
            (size,) = struct.unpack_from("!H", data, offset)
            parts.append(data[offset + 2:offset + 2 + size])
            offset += 2 + size
    except struct.error:
        raise refused("sig is not a TPMT_SIGNATURE") from None
    if offset != len(data) or scheme not in (TPM_ALG_RSASSA, TPM_ALG_RSAPSS, TPM_ALG_ECDSA):
        raise refused("sig is not an RSASSA, RSAPSS or ECDSA TPMT_SIGNATURE")
    if scheme == TPM_ALG_ECDSA:
        return scheme, (int.from_bytes(parts[0], "big"), int.from_bytes(parts[1], "big"))
    return scheme, parts[0]


def _verify_certification(ak: object, cert_info: bytes, sig: bytes, hash_alg: hashes.HashAlgorithm) -> None:
    """``sig`` is the AK's signature of ``certInfo``."""
    scheme, value = _signature(sig, hash_alg)
    try:
        if isinstance(ak, rsa.RSAPublicKey) and isinstance(value, bytes):
            pad: padding.AsymmetricPadding = padding.PKCS1v15() if scheme == TPM_ALG_RSASSA else padding.PSS(
                padding.MGF1(hash_alg), padding.PSS.AUTO)
            ak.verify(value, cert_info, pad, hash_alg)
        elif isinstance(ak, ec.EllipticCurvePublicKey) and isinstance(value, tuple):
            ak.verify(encode_dss_signature(*value), cert_info, ec.ECDSA(hash_alg))
        else:
            raise refused("sig's scheme does not fit the AK certificate's key")
    except InvalidSignature:
        raise refused("sig is not the AK's signature of certInfo") from None


def _certified_key(pub_area: bytes, cert_info: bytes) -> tuple[TpmPublicFormat, TpmAttestationFormat]:
    """pubArea and certInfo parsed; certInfo certifies pubArea's key, a key that never leaves the TPM."""
    try:
        public = TpmPublicFormat.parse(pub_area)
        certified = TpmAttestationFormat.parse(cert_info)
        name = public.name()
    except (ValueError, NotImplementedError, struct.error) as exc:
        raise refused(f"pubArea or certInfo is malformed (certInfo must be a TPMS_ATTEST of "
                      f"TPM2_Certify): {exc}") from None
    if not hmac.compare_digest(certified.attested.name, name):
        raise refused("certInfo does not certify the key in pubArea")
    if public.attributes & REQUIRED_ATTRIBUTES != REQUIRED_ATTRIBUTES:
        raise refused("the attested key is not fixed to the TPM or was not generated in it")
    if public.attributes & ATTRIBUTES.RESTRICTED or not public.attributes & ATTRIBUTES.SIGN_ENCRYPT:
        raise refused("the attested key is not an unrestricted signing key")
    parameters = public.parameters
    if isinstance(parameters, TpmsRsaParms) and parameters.key_bits < MIN_RSA_BITS:
        raise refused(f"the attested RSA key has fewer than {MIN_RSA_BITS} bits")
    if isinstance(parameters, TpmsEccParms) and parameters.curve_id not in SECURE_CURVES:
        raise refused("the attested key's curve is not P-256, P-384 or P-521")
    return public, certified


def verify(statement: dict[Any, Any], roots: Sequence[x509.Certificate], challenge: Challenge) -> Attestation:
    if statement.get("ver") != "2.0":
        raise refused("ver must be \"2.0\"")
    alg = statement.get("alg")
    hash_alg = COSE_HASHES.get(alg) if isinstance(alg, int) and not isinstance(alg, bool) else None
    if hash_alg is None:
        raise refused(f"alg must be one of {sorted(COSE_HASHES)}")
    chain = x5c_certificates(statement)
    verify_chain(chain, roots, challenge.now)
    identifiers, details = ak_facts(chain[0])
    pub_area, sig, cert_info = _bytes(statement, "pubArea"), _bytes(statement, "sig"), _bytes(statement, "certInfo")
    public, certified = _certified_key(pub_area, cert_info)
    _verify_certification(attested_key(chain[0]), cert_info, sig, hash_alg)
    expected = hashlib.sha256(challenge.key_authorization.encode()).digest()
    if not hmac.compare_digest(certified.data, expected):
        raise refused("certInfo's extraData is not the SHA-256 of the key authorization")
    try:
        public_key = public.public_key()
    except ValueError as exc:
        raise refused(f"the attested key cannot be read: {exc}") from None
    return Attestation("tpm", public_key, tuple(identifiers), details)
