"""PKCS#11 key material: generation templates, public keys, signing and decryption mechanisms."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pkcs11 import MGF, Attribute, Mechanism
from pkcs11 import KeyType as P11KeyType
from pkcs11.util.ec import encode_named_curve_parameters

from appliance.kms.algorithms import KeyType
from appliance.kms.errors import UnsupportedKeyOperation
from appliance.pki.digest_info import DIGEST_INFO_PREFIXES
from appliance.kms.signer import RsaPadding, oaep_hash

_CURVES: dict[KeyType, tuple[str, ec.EllipticCurve | None]] = {
    KeyType.EC_P256: ("1.2.840.10045.3.1.7", ec.SECP256R1()),
    KeyType.EC_P384: ("1.3.132.0.34", ec.SECP384R1()),
    KeyType.ED25519: ("1.3.101.112", None),
}
_EC_PARAMS = {encode_named_curve_parameters(oid): (key_type, curve) for key_type, (oid, curve) in _CURVES.items()}
_EC_PARAMS[b"\x13\x0cedwards25519"] = (KeyType.ED25519, None)  # PKCS#11 3.0 PrintableString form

_PSS_HASHES = {
    "sha224": (Mechanism.SHA224, MGF.SHA224),
    "sha256": (Mechanism.SHA256, MGF.SHA256),
    "sha384": (Mechanism.SHA384, MGF.SHA384),
    "sha512": (Mechanism.SHA512, MGF.SHA512),
}

#: OAEP adds SHA-1, the one hash SoftHSM2 2.6 takes for it (and the default of most tools).
_OAEP_HASHES = {"sha1": (Mechanism.SHA_1, MGF.SHA1), **_PSS_HASHES}


def keypair_templates(key_type: KeyType, key_id: bytes, label: str | None) -> dict[str, Any]:
    """``generate_keypair`` arguments for a CA key: on the token, private,
    sensitive, never extractable, for signing only. ML-DSA (PKCS#11 3.2's
    CKM_ML_DSA) is refused: no module on hand offers it to test against."""
    if key_type.kty not in ("EC", "OKP", "RSA"):
        raise UnsupportedKeyOperation(f"pkcs11: {key_type.curve} keys are not supported (EC, Ed25519 and RSA are)")
    common: dict[Attribute, Any] = {Attribute.TOKEN: True, Attribute.ID: key_id}
    if label is not None:
        common[Attribute.LABEL] = label
    public = {**common, Attribute.PRIVATE: False, Attribute.VERIFY: True, Attribute.ENCRYPT: False,
              Attribute.WRAP: False, Attribute.DERIVE: False}
    private = {**common, Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
               Attribute.SIGN: True, Attribute.DECRYPT: False, Attribute.UNWRAP: False, Attribute.DERIVE: False}
    if key_type.kty == "RSA":
        public |= {Attribute.MODULUS_BITS: key_type.size, Attribute.PUBLIC_EXPONENT: (65537).to_bytes(3, "big")}
        return dict(key_type=P11KeyType.RSA, key_length=key_type.size, mechanism=Mechanism.RSA_PKCS_KEY_PAIR_GEN,
                    public_template=public, private_template=private)
    oid, _ = _CURVES[key_type]
    public[Attribute.EC_PARAMS] = encode_named_curve_parameters(oid)
    if key_type is KeyType.ED25519:
        return dict(key_type=P11KeyType.EC_EDWARDS, mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                    public_template=public, private_template=private)
    return dict(key_type=P11KeyType.EC, mechanism=Mechanism.EC_KEY_PAIR_GEN,
                public_template=public, private_template=private)


def _octet_string(data: bytes, size: int) -> bytes:
    """An EC point as PKCS#11 wants it (DER OCTET STRING) or as some modules give it (raw)."""
    if len(data) == size:
        return data
    if data[:1] == b"\x04":
        length, offset = data[1], 2
        if length & 0x80:
            count = length & 0x7F
            length, offset = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
        if len(data) == offset + length == offset + size:
            return data[offset:]
    raise UnsupportedKeyOperation("the token returned a malformed EC point")


def public_key_from_object(obj: Any) -> PublicKeyTypes:
    """The ``cryptography`` public key of a PKCS#11 public-key object."""
    key_type = obj[Attribute.KEY_TYPE]
    if key_type == P11KeyType.RSA:
        modulus = int.from_bytes(obj[Attribute.MODULUS], "big")
        exponent = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    if key_type in (P11KeyType.EC, P11KeyType.EC_EDWARDS):
        params = _EC_PARAMS.get(obj[Attribute.EC_PARAMS])
        if params is None:
            raise UnsupportedKeyOperation("the key is on a curve this appliance does not support")
        kind, curve = params
        if curve is None:
            return ed25519.Ed25519PublicKey.from_public_bytes(_octet_string(obj[Attribute.EC_POINT], 32))
        size = 1 + 2 * ((curve.key_size + 7) // 8)
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, _octet_string(obj[Attribute.EC_POINT], size))
    raise UnsupportedKeyOperation(f"unsupported PKCS#11 key type {key_type!r}")


def signing_mechanism(public_key: PublicKeyTypes, algorithm: hashes.HashAlgorithm,
                      rsa_padding: RsaPadding | None) -> tuple[bytes, Mechanism, Any]:
    """(prefix, mechanism, parameter) to sign ``prefix + digest`` of a host-made digest
    with a raw mechanism: CKM_ECDSA, CKM_RSA_PKCS over a DigestInfo, or CKM_RSA_PKCS_PSS."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return b"", Mechanism.ECDSA, None
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise UnsupportedKeyOperation("digest signing needs an EC or RSA key")
    if rsa_padding is RsaPadding.PSS:
        if algorithm.name not in _PSS_HASHES:
            raise UnsupportedKeyOperation(f"RSA-PSS with {algorithm.name} is not supported")
        mechanism, mgf = _PSS_HASHES[algorithm.name]
        return b"", Mechanism.RSA_PKCS_PSS, (mechanism, mgf, algorithm.digest_size)
    prefix = DIGEST_INFO_PREFIXES.get(algorithm.name)
    if prefix is None:
        raise UnsupportedKeyOperation(f"RSA PKCS#1 v1.5 with {algorithm.name} is not supported")
    return prefix, Mechanism.RSA_PKCS, None


def decryption_mechanism(rsa_padding: padding.AsymmetricPadding) -> tuple[Mechanism, Any]:
    """(mechanism, parameter) for C_Decrypt: CKM_RSA_PKCS, or CKM_RSA_PKCS_OAEP with the
    padding's hash for both the label and MGF1 (no label)."""
    if isinstance(rsa_padding, padding.PKCS1v15):
        return Mechanism.RSA_PKCS, None
    if isinstance(rsa_padding, padding.OAEP):
        hashing = _OAEP_HASHES.get(oaep_hash(rsa_padding).name)
        if hashing is None:
            raise UnsupportedKeyOperation(f"RSA-OAEP with {rsa_padding.algorithm.name} is not supported (SHA-1, SHA-224..512)")
        return Mechanism.RSA_PKCS_OAEP, (*hashing, None)
    raise UnsupportedKeyOperation(f"unsupported RSA decryption padding {rsa_padding.name}")
