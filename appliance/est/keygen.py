"""Server-side key generation (RFC 7030 section 4.4): a new key like the request's, and the
private-key part of the reply. The key is made in software with ``cryptography`` (a key that
leaves the CA cannot stay in an HSM), lives only in memory for the request, and is either
returned as PKCS#8 (protected by TLS alone) or, when the CSR carries an
AsymmetricDecryptKeyIdentifier, as an AsymmetricKeyPackage (RFC 5958) in a SignedData the CA
signs through the KMS, inside an EnvelopedData for the client's RSA key (section 4.4.2).
``asn1crypto`` writes every structure."""

from __future__ import annotations

import hashlib

from asn1crypto import algos, cms, core, keys
from asn1crypto import csr as asn1_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric_padding
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from appliance.errors import BadRequest, Forbidden
from appliance.pki.cms_envelope import encrypted_content_info
from appliance.pki.cms_signer import asn1_certificate, build_signer_info

#: id-aa-decryptKeyID (RFC 7030 section 4.4.1.1) and id-aa-asymmDecryptKeyID (section 4.4.1.2).
DECRYPT_KEY_ID = "1.2.840.113549.1.9.16.2.37"
ASYMMETRIC_DECRYPT_KEY_ID = "1.2.840.113549.1.9.16.2.54"
#: id-ct-KP-aKeyPackage (RFC 5958 section 3): the SignedData's content type.
KEY_PACKAGE = "2.16.840.1.101.2.1.2.78.5"


class _OctetStrings(core.SetOf):
    _child_spec = core.OctetString


class AsymmetricKeyPackage(core.SequenceOf):
    """RFC 5958: ``SEQUENCE SIZE (1..MAX) OF OneAsymmetricKey`` (version 1 is PKCS#8's PrivateKeyInfo)."""

    _child_spec = keys.PrivateKeyInfo


#: RSA sizes the CA generates (a larger request would cost the worker seconds per key).
RSA_SIZES = (2048, 3072, 4096)


GeneratedKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def new_key_like(public_key: CertificatePublicKeyTypes) -> GeneratedKey:
    """A fresh key of the request key's type: the same curve, RSA size (2048, 3072 or 4096), or Ed25519."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ec.generate_private_key(public_key.curve)
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size not in RSA_SIZES:
            raise Forbidden(f"the CA generates RSA keys of {', '.join(map(str, RSA_SIZES))} bits only")
        return rsa.generate_private_key(65537, public_key.key_size)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return ed25519.Ed25519PrivateKey.generate()
    raise Forbidden(f"unsupported public key type {type(public_key).__name__}")


def requested_key_id(csr: x509.CertificateSigningRequest) -> bytes | None:
    """The AsymmetricDecryptKeyIdentifier the CSR carries, if any. ``BadRequest`` for a
    DecryptKeyIdentifier: this CA holds no symmetric keys shared with clients (section 4.4.1.1)."""
    try:
        attributes = {attribute["type"].dotted: attribute["values"] for attribute in asn1_csr.CertificationRequest.load(
            csr.public_bytes(Encoding.DER))["certification_request_info"]["attributes"]}
        if DECRYPT_KEY_ID in attributes:
            raise BadRequest("a DecryptKeyIdentifier asks for a symmetric key this CA does not hold; "
                             "use an AsymmetricDecryptKeyIdentifier (RFC 7030 section 4.4.1.2)")
        values = attributes.get(ASYMMETRIC_DECRYPT_KEY_ID)
        return None if values is None else bytes(values.parse(_OctetStrings)[0].native)
    except (ValueError, TypeError, IndexError):
        raise BadRequest("the CSR's attributes are malformed (an AsymmetricDecryptKeyIdentifier is an OCTET STRING)"
                         ) from None


def subject_key_id(certificate: x509.Certificate) -> bytes:
    """The certificate's subjectKeyIdentifier, or RFC 5280's method 1 over its key if it has none."""
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def pkcs8(private_key: PrivateKeyTypes) -> bytes:
    """The key as DER PrivateKeyInfo (section 4.4.2's ``application/pkcs8``)."""
    return private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def _signature(signer: PrivateKeyTypes, data: bytes) -> tuple[bytes, str]:
    """``data`` signed by ``signer`` (through the KMS), and the signature algorithm (asn1crypto's name)."""
    if isinstance(signer, rsa.RSAPrivateKey):
        return signer.sign(data, asymmetric_padding.PKCS1v15(), hashes.SHA256()), "sha256_rsa"
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        return signer.sign(data, ec.ECDSA(hashes.SHA256())), "sha256_ecdsa"
    if isinstance(signer, ed25519.Ed25519PrivateKey):
        return signer.sign(data), "ed25519"
    raise BadRequest("the CA's key cannot sign a server-generated key package (RSA, EC or Ed25519 only)")


def signed_key_package(private_key: PrivateKeyTypes, signer: PrivateKeyTypes, certificate: x509.Certificate) -> bytes:
    """A DER ContentInfo of SignedData over the key's AsymmetricKeyPackage, signed by the CA."""
    package = AsymmetricKeyPackage([keys.PrivateKeyInfo.load(pkcs8(private_key))]).dump()
    digest = "sha512" if isinstance(signer, ed25519.Ed25519PrivateKey) else "sha256"  # RFC 8419 for Ed25519
    signed_attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": [KEY_PACKAGE]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.new(digest, package).digest()]}),
    ])
    signature, algorithm = _signature(signer, signed_attrs.dump())
    signed = cms.SignedData({
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest})],
        "encap_content_info": {"content_type": KEY_PACKAGE, "content": core.ParsableOctetString(package)},
        "certificates": [asn1_certificate(certificate)],
        "signer_infos": [build_signer_info(certificate, digest, signed_attrs, signature, algorithm)],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def enveloped_for_key_id(content: bytes, key_id: bytes, recipient: rsa.RSAPublicKey) -> bytes:
    """A DER ContentInfo of EnvelopedData: ``content`` (a SignedData) under AES-256-CBC, the
    content key transported to ``recipient`` with RSAES-OAEP (SHA-256), named by ``key_id``."""
    key, encrypted = encrypted_content_info("aes256_cbc", "signed_data", content)
    oaep = asymmetric_padding.OAEP(asymmetric_padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    sha256 = {"algorithm": "sha256"}
    recipient_info = cms.KeyTransRecipientInfo({
        "version": "v2",
        "rid": cms.RecipientIdentifier({"subject_key_identifier": key_id}),
        "key_encryption_algorithm": cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep", "parameters": {
            "hash_algorithm": sha256,
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": sha256}}}),
        "encrypted_key": recipient.encrypt(key, oaep),
    })
    envelope = cms.EnvelopedData({
        "version": "v2",
        "recipient_infos": [cms.RecipientInfo({"ktri": recipient_info})],
        "encrypted_content_info": encrypted,
    })
    return cms.ContentInfo({"content_type": "enveloped_data", "content": envelope}).dump()
