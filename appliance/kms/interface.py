"""The KeyManager interface and its optional capabilities (step-ca's kms/apiv1)."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import Mapping, Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from appliance.kms.algorithms import KeyType
from appliance.kms.uri import KmsUri, parse_uri


@dataclass(frozen=True)
class CreatedKey:
    """What ``create_key`` returns: the key's URI and its public key."""

    uri: str
    public_key: PublicKeyTypes


class KeyManager(abc.ABC):
    """A backend opened from a KMS URI; key URIs name keys inside it.

    Key URIs may be given as strings or parsed; they are merged over the
    backend URI, so one full URI (``pkcs11:module-path=...;id=...``) works too.
    """

    scheme: str = ""

    def __init__(self, uri: KmsUri, *, password: bytes | None = None) -> None:
        """``password`` encrypts softkms keys; device backends may take it as the
        PIN when the URI gives none (``--password-file``)."""
        self.uri = uri
        self.password = password

    def key_uri(self, key: str | KmsUri) -> KmsUri:
        """The backend URI with ``key`` laid over it."""
        parsed = key if isinstance(key, KmsUri) else parse_uri(key, default_scheme=self.scheme)
        return self.uri.merged(parsed)

    @abc.abstractmethod
    def get_public_key(self, key: str | KmsUri) -> PublicKeyTypes:
        """The public key of an existing key; ``KeyNotFound`` if there is none."""

    @abc.abstractmethod
    def create_key(self, key: str | KmsUri, key_type: KeyType) -> CreatedKey:
        """Generate a key pair named by ``key``; refuses to replace an existing key."""

    @abc.abstractmethod
    def create_signer(self, key: str | KmsUri) -> PrivateKeyTypes:
        """A ``cryptography`` private key whose signatures are made by the backend."""

    def close(self) -> None:
        """Release sessions and connections; the manager is unusable afterwards."""

    def __enter__(self) -> KeyManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@runtime_checkable
class CertificateStore(Protocol):
    """A backend that keeps a certificate next to a key (PKCS#11, YubiKey)."""

    def load_certificate(self, key: str | KmsUri) -> x509.Certificate: ...

    def store_certificate(self, key: str | KmsUri, certificate: x509.Certificate) -> None: ...


@runtime_checkable
class Attester(Protocol):
    """A backend that proves a key was generated on the device."""

    def attest(self, key: str | KmsUri) -> list[x509.Certificate]:
        """The attestation chain, leaf (the attested key) first."""
        ...


@runtime_checkable
class TokenInfo(Protocol):
    """A backend that can describe the device it is logged in to (for transcripts)."""

    def token_info(self) -> Mapping[str, str]:
        """Label, serial number, manufacturer and model of the device."""
        ...


@runtime_checkable
class KeyDeleter(Protocol):
    """A backend that can destroy a key."""

    def delete_key(self, key: str | KmsUri) -> None: ...


class DecryptionPadding(enum.Enum):
    """An RSA decryption padding a backend's decrypters may offer."""

    PKCS1V15 = "RSA PKCS#1 v1.5"
    OAEP = "RSA-OAEP"


#: What a backend that decrypts on the host or through PKCS#11/PIV/Key Vault offers.
EVERY_DECRYPTION_PADDING = frozenset(DecryptionPadding)


@runtime_checkable
class Decrypter(Protocol):
    """A backend whose RSA keys decrypt (SCEP's pkcsPKIEnvelope): RSA PKCS#1 v1.5 and/or OAEP."""

    def decryption_paddings(self) -> frozenset[DecryptionPadding]:
        """The paddings this backend's decrypters open, known without a call to the device or service."""
        ...

    def create_decrypter(self, key: str | KmsUri) -> rsa.RSAPrivateKey:
        """A ``cryptography`` RSA private key whose ``decrypt`` runs on the backend;
        ``UnsupportedKeyOperation`` if the key is not an RSA key that may decrypt."""
        ...
