"""The CMS SignerInfo the CA writes (SCEP CertReps, EST server-generated key packages): the
signer named by issuer and serial number, over DER signed attributes."""

from __future__ import annotations

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


def asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    """``certificate`` as asn1crypto's structure (for a SignedData's ``certificates``)."""
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


def issuer_and_serial(certificate: x509.Certificate) -> cms.IssuerAndSerialNumber:
    """How CMS names ``certificate``: its issuer and serial number."""
    parsed = asn1_certificate(certificate)
    return cms.IssuerAndSerialNumber({"issuer": parsed.issuer, "serial_number": parsed.serial_number})


def build_signer_info(certificate: x509.Certificate, digest: str, signed_attrs: cms.CMSAttributes, signature: bytes,
                signature_algorithm: str) -> cms.SignerInfo:
    """A version 1 SignerInfo: ``signature`` (asn1crypto's ``signature_algorithm`` name) by
    ``certificate``'s key over ``signed_attrs``, whose message digest is ``digest``'s."""
    return cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": issuer_and_serial(certificate)}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest}),
        "signed_attrs": signed_attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signature_algorithm}),
        "signature": signature,
    })
