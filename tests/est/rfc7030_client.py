"""A small EST client written from RFC 7030 (with RFC 8951's clarifications), independent of
the appliance: it imports none of its code. httpx speaks HTTPS, ``cryptography`` makes keys
and signs, ``asn1crypto`` writes the PKCS#10 (with the section 4.4.1 attributes) and reads the
CMS, and the standard library's ``email`` parser reads ``multipart/mixed``.

No EST client is packaged on PyPI, Debian or npm (searched: "EST", "RFC 7030", "enrollment
over secure transport"; libest and globalsign/est are neither), hence this one."""

from __future__ import annotations

import base64
import email.parser
import email.policy
from dataclasses import dataclass

import httpx
from asn1crypto import cms, core, csr, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

#: id-aa-decryptKeyID and id-aa-asymmDecryptKeyID (RFC 7030 sections 4.4.1.1 and 4.4.1.2).
DECRYPT_KEY_ID = "1.2.840.113549.1.9.16.2.37"
ASYMMETRIC_DECRYPT_KEY_ID = "1.2.840.113549.1.9.16.2.54"
CERTS_ONLY = ("application/pkcs7-mime", "certs-only")


class EstRefused(Exception):
    """A non-2xx answer: its status, ``WWW-Authenticate`` header and text."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code}: {response.text}")
        self.status = response.status_code
        self.challenge = response.headers.get("www-authenticate")
        self.text = response.text


@dataclass(frozen=True)
class ServerKey:
    """Section 4.4.2's reply: the private-key part (its media type, smime-type and DER) and the certificate."""

    media_type: str
    smime_type: str | None
    key: bytes
    certificate: x509.Certificate


class _SetOfAny(core.SetOf):
    _child_spec = core.Any


def pkcs10(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, name: str,
           attributes: tuple[tuple[str, core.Asn1Value], ...] = ()) -> bytes:
    """A DER PKCS#10 (RFC 2986) for CN=``name`` with a dNSName SAN and ``attributes`` (OID, value)."""
    san = {"extn_id": "subject_alt_name", "critical": False,
           "extn_value": [asn1_x509.GeneralName(name="dns_name", value=name)]}
    info = csr.CertificationRequestInfo({
        "version": "v1",
        "subject": asn1_x509.Name.build({"common_name": name}),
        "subject_pk_info": keys.PublicKeyInfo.load(
            key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)),
        "attributes": [{"type": "extension_request", "values": [[san]]},
                       *({"type": oid, "values": _SetOfAny([value])} for oid, value in attributes)],
    })
    if isinstance(key, rsa.RSAPrivateKey):
        signature, algorithm = key.sign(info.dump(), padding.PKCS1v15(), hashes.SHA256()), "sha256_rsa"
    else:
        signature, algorithm = key.sign(info.dump(), ec.ECDSA(hashes.SHA256())), "sha256_ecdsa"
    return csr.CertificationRequest({"certification_request_info": info,
                                     "signature_algorithm": {"algorithm": algorithm},
                                     "signature": signature}).dump()


def _certs_only(body: bytes) -> list[x509.Certificate]:
    """The certificates of a base64 certs-only CMC Simple PKI Response (section 4.1.3): a
    SignedData with no signers and no content."""
    info = cms.ContentInfo.load(base64.b64decode(body))
    assert info["content_type"].native == "signed_data"
    signed = info["content"]
    assert len(signed["signer_infos"]) == 0 and signed["encap_content_info"]["content"].native is None
    return [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"]]


def _media(content_type: str) -> tuple[str, str | None]:
    header = email.policy.HTTP.header_factory("content-type", content_type)
    return header.content_type, header.params.get("smime-type")


class EstClient:
    """``<base_url>/.well-known/est[/label]/<operation>`` over ``http``: an httpx client carrying
    the trust anchor (section 4.1.1), HTTP basic credentials and/or a TLS client certificate."""

    def __init__(self, http: httpx.Client, base_url: str, label: str | None = None) -> None:
        self.http = http
        self.url = f"{base_url}/.well-known/est" + (f"/{label}" if label else "")

    def _send(self, method: str, operation: str, body: bytes | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/pkcs10"} if body is not None else {}
        response = self.http.request(method, f"{self.url}/{operation}", headers=headers,
                                     content=base64.encodebytes(body) if body is not None else None)
        if not response.is_success:
            raise EstRefused(response)
        return response

    def cacerts(self) -> list[x509.Certificate]:
        response = self._send("GET", "cacerts")
        assert _media(response.headers["content-type"]) == CERTS_ONLY
        return _certs_only(response.content)

    def csrattrs(self) -> bytes | None:
        """The DER CsrAttrs (section 4.5.2), or None when the server asks for nothing (204)."""
        response = self._send("GET", "csrattrs")
        return None if response.status_code == 204 else base64.b64decode(response.content)

    def simpleenroll(self, request: bytes) -> x509.Certificate:
        return self._enrolled(self._send("POST", "simpleenroll", request))

    def simplereenroll(self, request: bytes) -> x509.Certificate:
        return self._enrolled(self._send("POST", "simplereenroll", request))

    @staticmethod
    def _enrolled(response: httpx.Response) -> x509.Certificate:
        assert _media(response.headers["content-type"]) == CERTS_ONLY
        (certificate,) = _certs_only(response.content)
        return certificate

    def serverkeygen(self, request: bytes) -> ServerKey:
        """Section 4.4: a multipart/mixed reply, the private key first, then the certificate."""
        response = self._send("POST", "serverkeygen", request)
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + response.headers["content-type"].encode() + b"\r\n\r\n" + response.content)
        assert message.get_content_type() == "multipart/mixed"
        key_part, certificate_part = message.iter_parts()
        assert _media(str(certificate_part["content-type"])) == CERTS_ONLY
        (certificate,) = _certs_only(str(certificate_part.get_payload()).encode())
        media_type, smime_type = _media(str(key_part["content-type"]))
        return ServerKey(media_type, smime_type, base64.b64decode(str(key_part.get_payload())), certificate)
