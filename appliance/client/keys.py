"""Leaf keys (in memory, or created in a KMS/HSM) and the CSRs they sign."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from appliance.pki.keys import signature_hash
from appliance.kms import KeyType, open_key_manager
from appliance.kms.errors import KeyNotFound
from appliance.kms.softkms import generate_private_key
from appliance.provisioner.names import Names

__all__ = ["KeyType", "created_kms_key", "csr_pem", "generate_private_key", "kms_public_key", "make_csr"]


@contextmanager
def created_kms_key(kms_uri: str, key_uri: str, key_type: KeyType,
                    password: bytes | None = None) -> Iterator[tuple[str, PrivateKeyTypes]]:
    """Create a key pair in a KMS; its URI and signer, usable while the context is open
    (the private key never leaves the device)."""
    with open_key_manager(kms_uri, password=password) as manager:
        created = manager.create_key(key_uri, key_type)
        yield created.uri, manager.create_signer(created.uri)


def kms_public_key(kms_uri: str, key_uri: str, key_type: KeyType) -> tuple[str, PublicKeyTypes]:
    """The URI and public key of the key at ``key_uri`` in a KMS, created first if there is none."""
    with open_key_manager(kms_uri) as manager:
        try:
            return str(manager.key_uri(key_uri)), manager.get_public_key(key_uri)
        except KeyNotFound:
            created = manager.create_key(key_uri, key_type)
            return created.uri, created.public_key


def make_csr(subject: str, sans: Sequence[str], key: PrivateKeyTypes) -> x509.CertificateSigningRequest:
    """A CSR with ``CN=subject`` and the SANs (IP, email, URI, else DNS; default: the subject)."""
    names = Names.parse(list(sans) or [subject])
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, subject)]))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names.general_names()), critical=False)
    return builder.sign(key, signature_hash(key))  # type: ignore[arg-type]


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
