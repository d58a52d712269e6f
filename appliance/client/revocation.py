"""Revocation status from a CRL or an OCSP response, each checked against the
issuing CA's certificate before it is believed."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import httpx

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp

from appliance.errors import BadRequest
from appliance.pki.keys import ML_DSA_PUBLIC_KEYS


class RevocationCheckFailed(BadRequest):
    """The CRL or OCSP response is malformed, stale, or not signed by the issuer."""


@dataclass(frozen=True)
class RevocationStatus:
    """``good``, ``revoked`` (with time and reason) or ``unknown``."""

    status: str
    revoked_at: datetime.datetime | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.status != "revoked":
            return self.status
        when = self.revoked_at.isoformat() if self.revoked_at else "?"
        return f"revoked at {when}" + (f" ({self.reason})" if self.reason else "")


def parse_serial_number(text: str) -> int:
    """A serial as step prints it: decimal, or hex with a ``0x`` prefix."""
    try:
        number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise BadRequest(f"{text!r} is not a serial number (decimal, or hex with 0x)") from None
    if not 0 < number < 2**160:
        raise BadRequest(f"{text!r} is not a serial number (1 to 20 bytes)")
    return number


def _signed_by(issuer: x509.Certificate, signature: bytes, data: bytes,
               algorithm: hashes.HashAlgorithm | None) -> bool:
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey, *ML_DSA_PUBLIC_KEYS)):
            key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def ocsp_request(serial: int, issuer: x509.Certificate) -> bytes:
    """A DER OCSP request (SHA-1 CertID, as most responders expect) for ``serial`` under ``issuer``."""
    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(issuer.subject.public_bytes())
    key_hash = ocsp.OCSPRequestBuilder().add_certificate(issuer, issuer, hashes.SHA1()).build().issuer_key_hash
    request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(name_hash.finalize(), key_hash, serial, hashes.SHA1())
    return request.build().public_bytes(serialization.Encoding.DER)


def ocsp_status(response_der: bytes, serial: int, issuer: x509.Certificate,
                now: datetime.datetime) -> RevocationStatus:
    """The status a DER OCSP response gives ``serial``: signed by ``issuer`` itself or by a
    responder certificate it issued for OCSP signing, current at ``now``."""
    try:
        response = ocsp.load_der_ocsp_response(response_der)
    except ValueError as exc:
        raise RevocationCheckFailed(f"malformed OCSP response: {exc}") from None
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise RevocationCheckFailed(f"the OCSP responder answered {response.response_status.name}")
    signer = issuer
    for candidate in response.certificates:
        if _ocsp_signing(candidate) and _signed_by(
                issuer, candidate.signature, candidate.tbs_certificate_bytes, candidate.signature_hash_algorithm):
            signer = candidate
    if not _signed_by(signer, response.signature, response.tbs_response_bytes, response.signature_hash_algorithm):
        raise RevocationCheckFailed("the OCSP response is not signed by the issuer or its responder")
    if response.serial_number != serial:
        raise RevocationCheckFailed("the OCSP response is for another serial number")
    next_update = response.next_update_utc
    if response.this_update_utc > now + datetime.timedelta(minutes=5) or (next_update and next_update < now):
        raise RevocationCheckFailed("the OCSP response is not current")
    if response.certificate_status == ocsp.OCSPCertStatus.REVOKED:
        reason = response.revocation_reason.name if response.revocation_reason else ""
        return RevocationStatus("revoked", response.revocation_time_utc, reason)
    return RevocationStatus(response.certificate_status.name.lower())


def _ocsp_signing(certificate: x509.Certificate) -> bool:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in usage


def verified_crl(crl_der: bytes, issuer: x509.Certificate, now: datetime.datetime) -> x509.CertificateRevocationList:
    """A DER CRL, once it is shown to be signed by ``issuer`` and current at ``now``."""
    try:
        crl = x509.load_der_x509_crl(crl_der)
    except ValueError as exc:
        raise RevocationCheckFailed(f"malformed CRL: {exc}") from None
    if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise RevocationCheckFailed("the CRL is not signed by the issuer")
    if crl.next_update_utc is not None and crl.next_update_utc < now:
        raise RevocationCheckFailed("the CRL is stale (nextUpdate has passed)")
    return crl


def crl_status(crl: x509.CertificateRevocationList, serial: int) -> RevocationStatus:
    """``revoked`` or ``good`` by a verified CRL."""
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    if entry is None:
        return RevocationStatus("good")
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    except x509.ExtensionNotFound:
        reason = ""
    return RevocationStatus("revoked", entry.revocation_date_utc, reason)


def distribution_points(certificate: x509.Certificate) -> list[str]:
    """The CRL URLs in ``certificate``'s CRL distribution points."""
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [name.value for point in points for name in point.full_name or []
            if isinstance(name, x509.UniformResourceIdentifier)]


def ocsp_responders(certificate: x509.Certificate) -> list[str]:
    """The OCSP URLs in ``certificate``'s authority information access."""
    try:
        access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in access
            if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


def check_revocation(leaf: x509.Certificate, issuer: x509.Certificate, *, crl_url: str | None,
                     ocsp_url: str | None, now: datetime.datetime, timeout: float = 10.0) -> list[str]:
    """Ask the CRL and/or OCSP responder at the given URLs about ``leaf``; what each said.
    ``RevocationCheckFailed`` if either says anything but good or cannot be believed."""
    said = []
    with httpx.Client(timeout=timeout) as http:
        try:
            if crl_url:
                status = crl_status(verified_crl(http.get(crl_url).raise_for_status().content, issuer, now),
                                    leaf.serial_number)
                said.append(f"CRL {crl_url}: {status}")
                if status.status != "good":
                    raise RevocationCheckFailed(f"certificate is {status} (CRL {crl_url})")
            if ocsp_url:
                response = http.post(ocsp_url, content=ocsp_request(leaf.serial_number, issuer),
                                     headers={"Content-Type": "application/ocsp-request"}).raise_for_status()
                status = ocsp_status(response.content, leaf.serial_number, issuer, now)
                said.append(f"OCSP {ocsp_url}: {status}")
                if status.status != "good":
                    raise RevocationCheckFailed(f"certificate is {status} (OCSP {ocsp_url})")
        except httpx.HTTPError as exc:
            raise RevocationCheckFailed(f"revocation check failed: {exc}") from None
    return said
