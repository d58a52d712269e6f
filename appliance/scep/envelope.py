"""CMS EnvelopedData as SCEP uses it (RFC 8894 section 3.2.2): RSA key transport with
PKCS#1 v1.5 to one recipient certificate, content encrypted with AES-128/256-CBC or,
for old clients, DES-EDE3-CBC and single DES-CBC (what micromdm's scepclient 2.1 and
many routers send; step-ca reads it too). ``asn1crypto`` reads and writes the structures; the
key is opened through the KMS (a ``Decrypter``), never read here."""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import algos, cms, core, crl, parser
from cryptography import x509
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from appliance.pki.cms_envelope import BLOCK_BITS, CONTENT_ALGORITHMS, content_cipher, encrypted_content_info
from appliance.pki.cms_signer import issuer_and_serial
from appliance.scep.errors import FailInfo, ScepFailure

@dataclass(frozen=True)
class OpenedEnvelope:
    """The decrypted content and the algorithm the sender chose (the reply may follow it)."""

    content: bytes
    algorithm: str


class _ReadEncryptedContentInfo(core.Sequence):
    """asn1crypto's EncryptedContentInfo, reading ``encryptedContent`` as it comes: Go's
    pkcs7 (micromdm's scepclient) sends it as a constructed (BER) [0] OCTET STRING,
    which asn1crypto refuses under an implicit tag."""

    _fields = [
        ("content_type", cms.ContentType),
        ("content_encryption_algorithm", algos.EncryptionAlgorithm),
        ("encrypted_content", core.Any, {"optional": True}),
    ]


class _ReadEnvelopedData(core.Sequence):
    _fields = [(name, _ReadEncryptedContentInfo if name == "encrypted_content_info" else spec, *options)
               for name, spec, *options in cms.EnvelopedData._fields]


class _ReadContentInfo(core.Sequence):
    _fields = [("content_type", cms.ContentType), ("content", core.Any, {"explicit": 0, "optional": True})]


def _parts(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """``(class, method, tag, contents)`` of each element encoded one after another in ``data``."""
    parts, pointer = [], 0
    while pointer < len(data):
        class_, method, tag, header, contents, trailer = parser.parse(data[pointer:])
        if (class_, tag) == (0, 0) and not contents:
            break  # the end-of-contents octets of an indefinite length
        parts.append((class_, method, tag, contents))
        pointer += len(header) + len(contents) + len(trailer)
    return parts


def _encrypted_content(info: _ReadEncryptedContentInfo) -> bytes:
    """The [0] encryptedContent, primitive or constructed (BER: its OCTET STRING parts joined)."""
    found = [(method, contents) for class_, method, tag, contents in _parts(bytes(info.contents))
             if (class_, tag) == (2, 0)]
    if not found:
        return b""
    method, contents = found[0]
    if method == 0:
        return contents
    chunks = _parts(contents)
    if not all((class_, method, tag) == (0, 0, 4) for class_, method, tag, _ in chunks):
        raise ValueError("a constructed encryptedContent holds OCTET STRING parts")
    return b"".join(chunk for *_, chunk in chunks)


def _recipient_key(envelope: _ReadEnvelopedData, recipient: x509.Certificate) -> bytes:
    wanted = issuer_and_serial(recipient)
    for info in envelope["recipient_infos"]:
        if info.name != "ktri":
            continue
        ktri = info.chosen
        rid = ktri["rid"]
        if rid.name == "issuer_and_serial_number":
            if rid.chosen.dump() != wanted.dump():
                continue
        elif rid.chosen.native != recipient.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier).value.digest:
            continue
        if ktri["key_encryption_algorithm"]["algorithm"].native != "rsaes_pkcs1v15":
            raise ScepFailure(FailInfo.BAD_ALG, "the content key must be encrypted with RSA PKCS#1 v1.5")
        return bytes(ktri["encrypted_key"].native)
    raise ScepFailure(FailInfo.BAD_MESSAGE_CHECK, "the request is not encrypted to this CA's SCEP certificate")


def open_envelope(der: bytes, recipient: x509.Certificate, decrypter: rsa.RSAPrivateKey) -> OpenedEnvelope:
    """Decrypt a DER ContentInfo of EnvelopedData addressed to ``recipient``."""
    try:
        info = _ReadContentInfo.load(der)
        if info["content_type"].native != "enveloped_data" or not info["content"]:
            raise ScepFailure(FailInfo.BAD_REQUEST, "the pkcsPKIEnvelope is not CMS EnvelopedData")
        envelope = info["content"].parse(_ReadEnvelopedData)
        encrypted = envelope["encrypted_content_info"]
        algorithm = encrypted["content_encryption_algorithm"]
        name = algorithm["algorithm"].native
        ciphertext = _encrypted_content(encrypted)
        iv = algorithm.encryption_iv if name in CONTENT_ALGORITHMS else b""
        encrypted_key = _recipient_key(envelope, recipient)
    except (ValueError, TypeError, KeyError, x509.ExtensionNotFound):
        raise ScepFailure(FailInfo.BAD_REQUEST, "the pkcsPKIEnvelope is not well-formed CMS") from None
    if name not in CONTENT_ALGORITHMS:
        raise ScepFailure(FailInfo.BAD_ALG,
                          f"content encryption {name} is not offered (AES-128/256-CBC, DES-EDE3-CBC, DES-CBC)")
    if not ciphertext or len(ciphertext) % (BLOCK_BITS[name] // 8):
        raise ScepFailure(FailInfo.BAD_REQUEST, "the encrypted content is missing or truncated")
    try:
        key = decrypter.decrypt(encrypted_key, padding.PKCS1v15())
    except ValueError:
        raise ScepFailure(FailInfo.BAD_MESSAGE_CHECK, "the content key does not decrypt with this CA's key") from None
    if len(key) != CONTENT_ALGORITHMS[name] or len(iv or b"") != BLOCK_BITS[name] // 8:
        raise ScepFailure(FailInfo.BAD_MESSAGE_CHECK, "the content key or IV has the wrong length")
    decryptor = content_cipher(name, key, iv).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = symmetric_padding.PKCS7(BLOCK_BITS[name]).unpadder()
    try:
        return OpenedEnvelope(unpadder.update(padded) + unpadder.finalize(), name)
    except ValueError:
        raise ScepFailure(FailInfo.BAD_MESSAGE_CHECK, "the content does not decrypt (wrong key or corrupt)") from None


def seal_envelope(content: bytes, recipient: x509.Certificate, algorithm: str) -> bytes:
    """A DER ContentInfo of EnvelopedData: ``content`` encrypted for ``recipient``'s RSA key."""
    public_key = recipient.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ScepFailure(FailInfo.BAD_ALG, "the request's signer certificate has no RSA key to encrypt the reply to")
    key, encrypted = encrypted_content_info(algorithm, "data", content)
    recipient_info = cms.KeyTransRecipientInfo({
        "version": "v0",
        "rid": cms.RecipientIdentifier({"issuer_and_serial_number": issuer_and_serial(recipient)}),
        "key_encryption_algorithm": cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15"}),
        "encrypted_key": public_key.encrypt(key, padding.PKCS1v15()),
    })
    envelope = cms.EnvelopedData({
        "version": "v0",
        "recipient_infos": [cms.RecipientInfo({"ktri": recipient_info})],
        "encrypted_content_info": encrypted,
    })
    return cms.ContentInfo({"content_type": "enveloped_data", "content": envelope}).dump()


def degenerate_crl(der: bytes) -> bytes:
    """A degenerate SignedData (no signers) carrying the DER CRL ``der``: GetCRL's answer."""
    signed = cms.SignedData({
        "version": "v1", "digest_algorithms": [], "encap_content_info": {"content_type": "data"},
        "crls": [cms.RevocationInfoChoice(name="crl", value=crl.CertificateList.load(der))], "signer_infos": [],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
