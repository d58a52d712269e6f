"""A leaf certificate signed in-process by the online HSM's intermediate key,
the way the online CA will sign, for checking the ceremony's chain end to end."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.kms import open_key_manager
from tests.ceremony.files import Hsm


def issue_leaf(online: Hsm, intermediate_path: Path, out: Path, dns_name: str = "www.example.test") -> x509.Certificate:
    """A 24 h TLS leaf for ``dns_name`` signed by the intermediate key on ``online``."""
    intermediate = x509.load_pem_x509_certificate(intermediate_path.read_bytes())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    with open_key_manager(online.kms) as manager:
        signer = manager.create_signer(online.key("intermediate-key"))
        ski = intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
            .issuer_name(intermediate.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=24))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(signer, hashes.SHA256())
        )
    out.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return leaf
