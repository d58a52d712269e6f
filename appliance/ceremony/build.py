"""Build the ceremony artefacts with a signer whose key stays in the HSM."""

from __future__ import annotations

import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from appliance.ceremony.errors import InvalidCeremony
from appliance.ceremony.model import (
    CertificateProfile,
    CrlCeremony,
    CrossCsrCeremony,
    CsrProfile,
    NameConstraints,
    Network,
)
from appliance.kms import KeyType, SignatureAlgorithm
from appliance.kms.errors import UnsupportedKeyOperation
from appliance.pki import keys

CEREMONY_KEY_TYPES = (KeyType.EC_P256, KeyType.EC_P384, KeyType.RSA_2048, KeyType.RSA_3072, KeyType.RSA_4096)


def signature_hash(key: PublicKeyTypes | PrivateKeyTypes) -> hashes.HashAlgorithm:
    """ECDSA-SHA256 for P-256, ECDSA-SHA384 for P-384, SHA256-RSA (PKCS#1 v1.5) for RSA."""
    try:
        key_type: KeyType | None = KeyType.of(key)
    except UnsupportedKeyOperation:
        key_type = None
    if key_type not in CEREMONY_KEY_TYPES:
        raise InvalidCeremony("ceremony keys must be EC P-256, EC P-384 or RSA 2048-4096")
    algorithm = SignatureAlgorithm.default_for(key).hash
    assert algorithm is not None
    return algorithm


def random_serial() -> int:
    """A positive 128-bit serial number with 127 random bits."""
    return (1 << 127) | secrets.randbits(127)


def key_usage(usages: frozenset[str]) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature="digital-signature" in usages,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign="cert-sign" in usages,
        crl_sign="crl-sign" in usages,
        encipher_only=False,
        decipher_only=False,
    )


def authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The AKI that names ``issuer``'s SKI (or a hash of its key when it has none)."""
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _name_constraints(nc: NameConstraints) -> x509.NameConstraints:
    def subtrees(dns: tuple[str, ...], ips: tuple[Network, ...], emails: tuple[str, ...]) -> list[x509.GeneralName] | None:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(n) for n in ips]
        names += [x509.RFC822Name(e) for e in emails]
        return names or None

    return x509.NameConstraints(
        permitted_subtrees=subtrees(nc.permitted_dns, nc.permitted_ip, nc.permitted_email),
        excluded_subtrees=subtrees(nc.excluded_dns, nc.excluded_ip, nc.excluded_email),
    )


def _profile_extensions(profile: CertificateProfile) -> list[tuple[x509.ExtensionType, bool]]:
    """The optional extensions a profile asks for, with their criticality."""
    extensions: list[tuple[x509.ExtensionType, bool]] = []
    if profile.extended_key_usages:
        extensions.append((x509.ExtendedKeyUsage(list(profile.extended_key_usages)), False))
    if profile.policy_oids:
        policies = [x509.PolicyInformation(oid, None) for oid in profile.policy_oids]
        extensions.append((x509.CertificatePolicies(policies), False))
    if profile.crl_urls:
        points = [x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
                  for u in profile.crl_urls]
        extensions.append((x509.CRLDistributionPoints(points), False))
    access = [x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u))
              for u in profile.ocsp_urls]
    access += [x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                      x509.UniformResourceIdentifier(u)) for u in profile.issuer_urls]
    if access:
        extensions.append((x509.AuthorityInformationAccess(access), False))
    if profile.name_constraints is not None:
        extensions.append((_name_constraints(profile.name_constraints), True))
    return extensions


def ca_certificate(
    profile: CertificateProfile,
    subject_key: PublicKeyTypes,
    signer: PrivateKeyTypes,
    issuer: x509.Certificate | None,
) -> x509.Certificate:
    """A CA certificate for ``subject_key``; self-signed when ``issuer`` is None. Any key
    type the CA signs with (``appliance init --kty`` too, ML-DSA included): a ceremony has
    checked its key's type before (:func:`signature_hash`, at preflight)."""
    subject = profile.subject.name()
    ski = x509.SubjectKeyIdentifier.from_public_key(subject_key)  # type: ignore[arg-type]
    aki = (authority_key_identifier(issuer) if issuer is not None
           else x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(subject_key)  # type: ignore[arg-type]
        .serial_number(random_serial())
        .not_valid_before(profile.not_before)
        .not_valid_after(profile.not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=profile.path_length), critical=True)
        .add_extension(key_usage(profile.key_usages), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
    )
    for extension, critical in _profile_extensions(profile):
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signer, keys.signature_hash(signer))  # type: ignore[arg-type]


def csr(profile: CsrProfile, signer: PrivateKeyTypes) -> x509.CertificateSigningRequest:
    """A CSR for the HSM key; CA basic constraints when a path length is asked."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(profile.subject.name())
    if profile.path_length is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=profile.path_length), critical=True)
    if profile.key_usages:
        builder = builder.add_extension(key_usage(profile.key_usages), critical=True)
    return builder.sign(signer, signature_hash(signer))  # type: ignore[arg-type]


def cross_csr(ceremony: CrossCsrCeremony, signer: PrivateKeyTypes) -> x509.CertificateSigningRequest:
    """A CSR repeating an existing CA certificate's subject, basic constraints and key usage."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(ceremony.certificate.subject)
    for extension_type in (x509.BasicConstraints, x509.KeyUsage):
        try:
            extension = ceremony.certificate.extensions.get_extension_for_class(extension_type)
        except x509.ExtensionNotFound:
            continue
        builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder.sign(signer, signature_hash(signer))  # type: ignore[arg-type]


def crl(ceremony: CrlCeremony, signer: PrivateKeyTypes) -> x509.CertificateRevocationList:
    """A CRL with CRLNumber and AKI; each entry with its date and (optional) reason."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ceremony.issuer.subject)
        .last_update(ceremony.this_update)
        .next_update(ceremony.next_update)
        .add_extension(x509.CRLNumber(ceremony.number), critical=False)
        .add_extension(authority_key_identifier(ceremony.issuer), critical=False)
    )
    for entry in ceremony.revoked:
        revoked = x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.revoked_at)
        if entry.reason is not None:
            revoked = revoked.add_extension(x509.CRLReason(entry.reason), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    return builder.sign(signer, signature_hash(signer))  # type: ignore[arg-type]
