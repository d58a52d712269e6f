"""The EST core (RFC 7030 section 4): CA certificates, enrolment, re-enrolment, CSR
attributes and, where the provisioner allows it, server-side key generation. Bodies in
and out are base64 DER (PKCS#10 in, a certs-only CMC Simple PKI Response, i.e. degenerate
PKCS#7, out; section 4.4.2's private-key part beside it); the HTTP layer
(``appliance.api.est``) only moves them and writes the multipart reply."""

from __future__ import annotations

import base64
import binascii
import datetime
from dataclasses import dataclass
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from appliance.authority.interfaces import AuthorityInterface
from appliance.errors import BadRequest, Forbidden, NotFound, NotImplementedFeature, Unauthorized
from appliance.pki.clock import utc_now
from appliance.est.keygen import (enveloped_for_key_id, new_key_like, pkcs8, requested_key_id, signed_key_package,
                                   subject_key_id)
from appliance.pki.keys import check_public_key, verified_csr_key
from appliance.provisioner.est import ESTProvisioner
from appliance.provisioner.x5c import verify_chain


@dataclass(frozen=True)
class EstCredentials:
    """What a request authenticates with: HTTP basic (``username`` and ``secret``),
    bearer (``secret`` alone), and the TLS client certificate, if any."""

    username: str | None = None
    secret: str | None = None
    client_certificate: x509.Certificate | None = None


#: Section 4.4.2's media types of the private-key part: plain, or encrypted for the client.
PKCS8 = "application/pkcs8"
SERVER_GENERATED_KEY = "application/pkcs7-mime; smime-type=server-generated-key"


@dataclass(frozen=True)
class ServerGeneratedKey:
    """Section 4.4.2's two parts, each base64: the private key (``key_media_type``) and the
    certificate (certs-only PKCS#7, as ``/simpleenroll`` answers)."""

    key: bytes
    key_media_type: str
    certificate: bytes


def certs_only(certificates: list[x509.Certificate]) -> bytes:
    """A certs-only PKCS#7 (RFC 7030 section 4.1.3), base64 with line breaks."""
    return base64.encodebytes(pkcs7.serialize_certificates(certificates, Encoding.DER))


def parse_pkcs10(body: bytes) -> x509.CertificateSigningRequest:
    """A base64 DER PKCS#10 whose signature holds; ``BadRequest`` otherwise."""
    try:
        csr = x509.load_der_x509_csr(base64.b64decode(b"".join(body.split()), validate=True))
    except (binascii.Error, ValueError):
        raise BadRequest("the body must be a base64-encoded DER PKCS#10 certificate request") from None
    verified_csr_key(csr)
    return csr


def _san(value: x509.Certificate | x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    try:
        return sorted(value.extensions.get_extension_for_class(x509.SubjectAlternativeName).value, key=repr)
    except x509.ExtensionNotFound:
        return []


class EstServer:
    """EST for the authority's EST provisioners; ``label`` names one (none: the first)."""

    def __init__(self, authority: AuthorityInterface,
                 now: Callable[[], datetime.datetime] = utc_now) -> None:
        self.authority = authority
        self._now = now

    def provisioner(self, label: str | None) -> ESTProvisioner:
        """The EST provisioner named ``label``; without a label, the first one in ca.json."""
        name = label if label is not None else self._first_est_name()
        try:
            provisioner = self.authority.provisioner(name) if name else None
        except NotFound:
            provisioner = None
        if not isinstance(provisioner, ESTProvisioner):
            raise NotFound(f"no EST provisioner named '{name[:64]}'" if name else "no EST provisioner is configured")
        return provisioner

    def _first_est_name(self) -> str:
        cursor = ""
        while True:
            page, cursor = self.authority.provisioners(cursor, 100)
            name = next((str(p["name"]) for p in page if p.get("type") == "EST"), "")
            if name or not cursor:
                return name

    def cacerts(self, label: str | None) -> bytes:
        """The issuing chain, intermediates then roots (section 4.1)."""
        self.provisioner(label)
        return certs_only([*self.authority.intermediates(), *self.authority.roots()])

    def csrattrs(self, label: str | None) -> bytes | None:
        """No attributes are asked for (section 4.5: 204)."""
        self.provisioner(label)
        return None

    def serverkeygen(self, label: str | None, body: bytes, credentials: EstCredentials) -> ServerGeneratedKey:
        """Server-side key generation (section 4.4), authenticated as ``/simpleenroll``: a new key
        of the CSR key's type, certified with the CSR's subject and names. The key is encrypted
        for the TLS client certificate's RSA key when the CSR names it by an
        AsymmetricDecryptKeyIdentifier, else returned as PKCS#8 under TLS alone."""
        provisioner = self.provisioner(label)
        self._authenticate(provisioner, credentials)
        if not provisioner.server_key_gen:
            raise NotImplementedFeature(f"EST provisioner '{provisioner.name}': server-side key generation "
                                        "is turned off (serverKeyGen is false)")
        csr = parse_pkcs10(body)
        key_id = requested_key_id(csr)
        recipient = None if key_id is None else (key_id, self._recipient(key_id, credentials))
        check_public_key(csr.public_key())
        private_key = new_key_like(csr.public_key())
        if recipient is None:
            key_part, media_type = pkcs8(private_key), PKCS8
        else:  # sealed before issuing: a KMS that fails to sign leaves no certificate behind
            signer, signer_certificate = self.authority.content_signer()
            key_part = enveloped_for_key_id(signed_key_package(private_key, signer, signer_certificate), *recipient)
            media_type = SERVER_GENERATED_KEY
        certificate = self.authority.sign_authenticated(csr, provisioner, private_key.public_key()).certificate
        return ServerGeneratedKey(base64.encodebytes(key_part), media_type, certs_only([certificate]))

    @staticmethod
    def _recipient(key_id: bytes, credentials: EstCredentials) -> rsa.RSAPublicKey:
        """The key an AsymmetricDecryptKeyIdentifier names: the TLS client certificate's, if it
        is that certificate's subjectKeyIdentifier and an RSA key (section 4.4.1.2)."""
        current = credentials.client_certificate
        if current is None or subject_key_id(current) != key_id:
            raise BadRequest("the AsymmetricDecryptKeyIdentifier names no key this server knows: it must be the "
                             "subjectKeyIdentifier of the TLS client certificate")
        public_key = current.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise BadRequest("the key the AsymmetricDecryptKeyIdentifier names must be RSA (key transport)")
        return public_key

    def simpleenroll(self, label: str | None, body: bytes, credentials: EstCredentials) -> bytes:
        """Enrol (section 4.2.1): the provisioner's secret or a client certificate under its roots."""
        provisioner = self.provisioner(label)
        self._authenticate(provisioner, credentials)
        csr = parse_pkcs10(body)
        return certs_only([self.authority.sign_authenticated(csr, provisioner).certificate])

    def simplereenroll(self, label: str | None, body: bytes, credentials: EstCredentials) -> bytes:
        """Re-enrol (section 4.2.2): the client certificate is one this CA issued and has not
        revoked, and the CSR's subject and subjectAltName are the certificate's."""
        provisioner = self.provisioner(label)
        current = credentials.client_certificate
        if current is None:
            raise Unauthorized("re-enrolment needs the TLS client certificate being renewed")
        try:
            verify_chain([current], self.authority.intermediates(), self._now())
        except Unauthorized:
            raise Unauthorized("the client certificate was not issued by this CA or is not valid now") from None
        self._not_revoked(current)
        csr = parse_pkcs10(body)
        if csr.subject != current.subject or _san(csr) != _san(current):
            raise BadRequest("the CSR's subject and subjectAltName must be those of the certificate being renewed")
        return certs_only([self.authority.sign_authenticated(csr, provisioner).certificate])

    def _authenticate(self, provisioner: ESTProvisioner, credentials: EstCredentials) -> None:
        if credentials.secret is not None and provisioner.secret_matches(credentials.username, credentials.secret):
            return
        if credentials.client_certificate is not None and provisioner.roots:
            try:
                verify_chain([credentials.client_certificate], provisioner.roots, self._now())
            except Unauthorized:
                pass
            else:
                self._not_revoked(credentials.client_certificate)
                return
        raise Unauthorized(f"EST provisioner '{provisioner.name}': wrong or missing credentials")

    def _not_revoked(self, certificate: x509.Certificate) -> None:
        """``Forbidden`` if this CA issued ``certificate`` and has revoked it."""
        try:
            verify_chain([certificate], self.authority.intermediates(), self._now())
        except Unauthorized:
            return
        if self.authority.is_revoked(str(certificate.serial_number)):
            raise Forbidden("the client certificate has been revoked")
