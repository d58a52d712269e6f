"""ACME objects as the core and its store exchange them (RFC 8555 section 7.1)."""

from __future__ import annotations

import datetime
import enum
import secrets
from dataclasses import dataclass
from typing import Any


def new_id() -> str:
    """A random, URL-safe object id (128 bits)."""
    return secrets.token_urlsafe(16)


class Status(str, enum.Enum):
    """Every status an ACME object can take."""

    PENDING = "pending"
    READY = "ready"
    PROCESSING = "processing"
    VALID = "valid"
    INVALID = "invalid"
    DEACTIVATED = "deactivated"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ChallengeType(str, enum.Enum):
    HTTP_01 = "http-01"
    DNS_01 = "dns-01"
    TLS_ALPN_01 = "tls-alpn-01"
    DEVICE_ATTEST_01 = "device-attest-01"
    DNS_PERSIST_01 = "dns-persist-01"


@dataclass(frozen=True)
class Identifier:
    """``{"type": "dns"|"ip"|"permanent-identifier", "value": ...}``."""

    type: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class Account:
    id: str
    provisioner: str
    jwk: dict[str, Any]
    thumbprint: str
    contact: tuple[str, ...]
    status: Status
    created_at: datetime.datetime
    eab_key_id: str | None = None


@dataclass(frozen=True)
class Challenge:
    id: str
    authorization_id: str
    type: ChallengeType
    token: str
    status: Status
    validated_at: datetime.datetime | None = None
    error: dict[str, Any] | None = None
    processing_since: datetime.datetime | None = None


@dataclass(frozen=True)
class Authorization:
    id: str
    account_id: str
    identifier: Identifier
    wildcard: bool
    status: Status
    expires: datetime.datetime
    challenges: tuple[Challenge, ...] = ()
    #: What a device-attest-01 challenge proved (``appliance.acme.device_attest``), None otherwise.
    attestation: dict[str, Any] | None = None


@dataclass(frozen=True)
class Order:
    id: str
    account_id: str
    provisioner: str
    status: Status
    expires: datetime.datetime
    identifiers: tuple[Identifier, ...]
    authorization_ids: tuple[str, ...]
    created_at: datetime.datetime
    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    error: dict[str, Any] | None = None
    certificate_id: str | None = None
    replaces: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class EabKey:
    """An External Account Binding key of one provisioner; bound to one account once used."""

    provisioner: str
    key_id: str
    hmac_key: bytes
    created_at: datetime.datetime
    account_id: str | None = None
    bound_at: datetime.datetime | None = None
    reference: str = ""  # the admin API's optional name of the key
    #: The name policy (ca.json ``policy`` shape) of the account this key binds; set over the admin API.
    policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate issued for an order, kept for download, revocation and ARI."""

    id: str
    account_id: str
    order_id: str
    serial: str
    cert_id: str
    chain_pem: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    replaced_by: str | None = None
