"""What a format verifier is given (the challenge it must be bound to) and returns."""

from __future__ import annotations

import base64
import datetime
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@dataclass(frozen=True)
class Challenge:
    """What an attestation must be bound to: the challenge token and its key authorization."""

    token: str
    key_authorization: str
    now: datetime.datetime


@dataclass(frozen=True)
class Attestation:
    """A verified attestation: the attested key, the hardware identifiers it names (the
    order's permanent identifier must be one of them) and the facts templates see."""

    format: str
    public_key: CertificatePublicKeyTypes
    identifiers: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """base64 SHA-256 of the attested key's SubjectPublicKeyInfo (step-ca's ``keyutil.Fingerprint``)."""
        return key_fingerprint(self.public_key)


def key_fingerprint(public_key: CertificatePublicKeyTypes) -> str:
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()
