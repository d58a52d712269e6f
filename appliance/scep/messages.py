"""SCEP's pkiMessage (RFC 8894 section 3): CMS SignedData whose signed attributes carry
the message type, transaction id and nonces. ``asn1crypto`` reads and writes the CMS;
the SCEP attributes are registered with it here, as its documentation describes for
attribute types it does not know."""

from __future__ import annotations

import datetime
import enum
import hashlib
from dataclasses import dataclass

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.errors import BadRequest
from appliance.pki.cms_signer import asn1_certificate, build_signer_info
from appliance.scep.errors import Addressee, FailInfo, ScepFailure


class SetOfPrintableString(core.SetOf):
    _child_spec = core.PrintableString


class SetOfOctetString(core.SetOf):
    _child_spec = core.OctetString


#: The SCEP authenticated attributes (id-VeriSign 2.16.840.1.113733.1.9.x).
SCEP_ATTRIBUTES = {
    "2.16.840.1.113733.1.9.2": ("scep_message_type", SetOfPrintableString),
    "2.16.840.1.113733.1.9.3": ("scep_pki_status", SetOfPrintableString),
    "2.16.840.1.113733.1.9.4": ("scep_fail_info", SetOfPrintableString),
    "2.16.840.1.113733.1.9.5": ("scep_sender_nonce", SetOfOctetString),
    "2.16.840.1.113733.1.9.6": ("scep_recipient_nonce", SetOfOctetString),
    "2.16.840.1.113733.1.9.7": ("scep_transaction_id", SetOfPrintableString),
}
for _oid, (_name, _spec) in SCEP_ATTRIBUTES.items():
    cms.CMSAttributeType._map[_oid] = _name
    cms.CMSAttribute._oid_specs[_name] = _spec
cms.CMSAttributeType._reverse_map = None  # rebuilt from _map on next use

#: Digest algorithms accepted on requests (and used for the reply to each).
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
#: The CA signs no SHA-1: a request signed with it (scepclient 2.1 does) gets a SHA-256 reply.
REPLY_DIGESTS = {"sha1": "sha256"}
NONCE_BYTES = 16
MAX_TRANSACTION_ID = 256


class MessageType(enum.Enum):
    CERT_REP = "3"
    RENEWAL_REQ = "17"
    PKCS_REQ = "19"
    CERT_POLL = "20"  # GetCertInitial
    GET_CERT = "21"
    GET_CRL = "22"


class PkiStatus(enum.Enum):
    SUCCESS = "0"
    FAILURE = "2"
    PENDING = "3"


@dataclass(frozen=True)
class PkiMessage:
    """A request whose signature verified with its signer certificate (not yet trusted)."""

    message_type: MessageType
    transaction_id: str
    sender_nonce: bytes
    signer: x509.Certificate
    digest: str
    #: The pkcsPKIEnvelope (DER EnvelopedData), still encrypted.
    envelope: bytes


def _attribute(attributes: cms.CMSAttributes, name: str) -> object:
    values = [a["values"] for a in attributes if a["type"].native == name]
    if len(values) != 1 or len(values[0]) != 1:
        return None
    return values[0][0].native


def _signer_certificate(signed: cms.SignedData, signer_info: cms.SignerInfo) -> x509.Certificate:
    sid = signer_info["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        certificate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            found = (certificate.issuer == sid.chosen["issuer"]
                     and certificate.serial_number == sid.chosen["serial_number"].native)
        else:
            found = certificate.key_identifier == sid.chosen.native
        if found:
            return x509.load_der_x509_certificate(certificate.dump())
    raise BadRequest("the pkiMessage does not include its signer's certificate")


def _check_signature(signer_info: cms.SignerInfo, certificate: x509.Certificate, digest: str) -> None:
    signed_attrs = signer_info["signed_attrs"].untag().dump()
    signature = signer_info["signature"].native
    public_key = certificate.public_key()
    algorithm = DIGESTS[digest]()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, signed_attrs, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, signed_attrs, ec.ECDSA(algorithm))
        else:
            raise ScepFailure(FailInfo.BAD_ALG, "the request is signed with a key that is neither RSA nor EC")
    except InvalidSignature:
        raise ScepFailure(FailInfo.BAD_MESSAGE_CHECK, "the request's signature does not verify") from None


def parse_pki_message(der: bytes) -> PkiMessage:
    """Parse and verify a pkiMessage. ``BadRequest`` when no reply can be addressed (not CMS,
    no signer certificate); ``ScepFailure`` when a CertRep FAILURE can answer."""
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise BadRequest("the pkiMessage is not CMS SignedData")
        signed = info["content"]
        signer_infos = signed["signer_infos"]
        if len(signer_infos) != 1:
            raise BadRequest("the pkiMessage must have exactly one signer")
        signer_info = signer_infos[0]
        certificate = _signer_certificate(signed, signer_info)
        attributes = signer_info["signed_attrs"]
        message_type = _attribute(attributes, "scep_message_type")
        transaction_id = _attribute(attributes, "scep_transaction_id")
        sender_nonce = _attribute(attributes, "scep_sender_nonce")
        message_digest = _attribute(attributes, "message_digest")
        content_type = _attribute(attributes, "content_type")
        digest = signer_info["digest_algorithm"]["algorithm"].native
        encapsulated = signed["encap_content_info"]
        content = encapsulated["content"].native if encapsulated["content"] else b""
    except BadRequest:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        raise BadRequest("the pkiMessage is not well-formed CMS SignedData") from None
    if not isinstance(transaction_id, str) or not 0 < len(transaction_id) <= MAX_TRANSACTION_ID:
        raise BadRequest("the pkiMessage has no transactionID")
    if not isinstance(sender_nonce, bytes) or not 8 <= len(sender_nonce) <= 64:
        raise BadRequest("the pkiMessage has no senderNonce")
    addressee = Addressee(transaction_id, sender_nonce, certificate)
    if digest not in DIGESTS:
        raise ScepFailure(FailInfo.BAD_ALG, f"digest algorithm {digest} is not offered").addressed(addressee)
    addressee = Addressee(transaction_id, sender_nonce, certificate, digest)
    try:
        message_type = MessageType(message_type)
    except ValueError:
        raise ScepFailure(FailInfo.BAD_REQUEST, "unknown SCEP messageType").addressed(addressee) from None
    if content_type != "data" or not isinstance(content, bytes):
        raise ScepFailure(FailInfo.BAD_REQUEST, "the pkiMessage must encapsulate data").addressed(addressee)
    if message_digest != hashlib.new(digest, content).digest():
        raise ScepFailure(FailInfo.BAD_MESSAGE_CHECK, "messageDigest does not match").addressed(addressee)
    try:
        _check_signature(signer_info, certificate, digest)
    except ScepFailure as failure:
        raise failure.addressed(addressee) from None
    return PkiMessage(message_type, transaction_id, sender_nonce, certificate, digest, content)


def _signature(signer: PrivateKeyTypes, data: bytes, digest: str) -> tuple[bytes, str]:
    algorithm = DIGESTS[digest]()
    if isinstance(signer, rsa.RSAPrivateKey):
        return signer.sign(data, padding.PKCS1v15(), algorithm), "rsassa_pkcs1v15"
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        return signer.sign(data, ec.ECDSA(algorithm)), f"{digest}_ecdsa"
    raise BadRequest("the CA's SCEP signer must be an RSA or EC key")


def cert_rep(addressee: Addressee, status: PkiStatus, signer: PrivateKeyTypes, signer_certificate: x509.Certificate,
             *, now: datetime.datetime, nonce: bytes, envelope: bytes | None = None,
             fail_info: FailInfo | None = None, chain: tuple[x509.Certificate, ...] = ()) -> bytes:
    """A CertRep pkiMessage (DER): ``envelope`` (the encrypted degenerate SignedData of the
    certificate) on SUCCESS, ``fail_info`` on FAILURE; signed through the KMS with the
    request's digest (SHA-256 for a SHA-1 request), with ``chain``
    (the certificates above the signer's) beside the signer's certificate."""
    content = envelope or b""
    digest = REPLY_DIGESTS.get(addressee.digest, addressee.digest)
    attributes = [
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": now.replace(microsecond=0)})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.new(digest, content).digest()]}),
        cms.CMSAttribute({"type": "scep_message_type", "values": [MessageType.CERT_REP.value]}),
        cms.CMSAttribute({"type": "scep_pki_status", "values": [status.value]}),
        cms.CMSAttribute({"type": "scep_transaction_id", "values": [addressee.transaction_id]}),
        cms.CMSAttribute({"type": "scep_sender_nonce", "values": [nonce]}),
        cms.CMSAttribute({"type": "scep_recipient_nonce", "values": [addressee.sender_nonce]}),
    ]
    if fail_info is not None:
        attributes.append(cms.CMSAttribute({"type": "scep_fail_info", "values": [fail_info.value]}))
    signed_attrs = cms.CMSAttributes(attributes)
    signature, signature_algorithm = _signature(signer, signed_attrs.dump(), digest)
    encapsulated = {"content_type": "data", **({"content": content} if envelope else {})}
    signed = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest})],
        "encap_content_info": encapsulated,
        "certificates": [asn1_certificate(c) for c in (signer_certificate, *chain)],
        "signer_infos": [build_signer_info(signer_certificate, digest, signed_attrs, signature, signature_algorithm)],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
