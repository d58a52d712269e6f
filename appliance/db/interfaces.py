"""What the authority needs from storage; ``appliance.db.sql`` implements it.

Serials are decimal strings (as step-ca's API carries them). Every method is
safe to call from several threads and from several processes sharing one
database: uniqueness (serials, token ids) is enforced by the database itself.
"""

from __future__ import annotations

import contextlib
import datetime
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection

from appliance.db.crl_store import CrlState
from appliance.errors import Forbidden


@dataclass(frozen=True)
class CertificateRecord:
    """An issued certificate, recorded before it is returned to the client."""

    serial: str
    subject: str
    sans: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    provisioner: str
    pem: str
    issued_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))


@dataclass(frozen=True)
class RevocationRecord:
    """A revoked serial; ``passive`` revocations only stop renewals."""

    serial: str
    reason_code: int
    reason: str
    revoked_at: datetime.datetime
    provisioner: str
    passive: bool = True
    mtls: bool = False


class KeyBlocked(Forbidden):
    """The certificate's key was blocked by a revocation for keyCompromise: nothing was written."""


class Database(Protocol):
    """Storage of certificates, revocations and used one-time tokens."""

    def record_certificate(self, record: CertificateRecord, *, key: str = "") -> None:
        """Store an issued certificate; ``Conflict`` if the serial exists. With ``key`` (the
        SPKI SHA-256, hex, of its public key) ``KeyBlocked``, with nothing written, if
        ``is_key_blocked(key)``: the check is in the transaction that records it."""
        ...

    def record_renewal(self, renewed_serial: str, record: CertificateRecord, *, key: str = "") -> bool:
        """``record_certificate`` for a renewal (or rekey) of ``renewed_serial``, unless that
        serial is revoked: False, with nothing written, if it is. The check and the insert
        are one transaction, serialised with ``revoke`` of the same serial, so a
        revocation that committed first always wins."""
        ...

    def get_certificate(self, serial: str) -> CertificateRecord | None: ...

    def revoke(self, record: RevocationRecord, *, block_key: str = "") -> None:
        """Record a revocation; ``Conflict`` if the serial is already revoked. With
        ``block_key`` (a key's SPKI SHA-256, hex) that key is blocked in the same transaction."""
        ...

    def is_key_blocked(self, spki_sha256: str) -> bool:
        """Whether a revocation for keyCompromise blocked this key (SPKI SHA-256, hex)."""
        ...

    def get_revocation(self, serial: str) -> RevocationRecord | None: ...

    def revocations_revision(self) -> int:
        """A number that changes whenever a revocation is recorded, by any process: what
        a cached CRL is checked against (one primary-key read)."""
        ...

    def list_revocations(self, *, active_only: bool = False) -> list[RevocationRecord]:
        """All revocations, oldest first; with ``active_only``, only those whose
        certificate has not expired yet or was never recorded here (what a CRL lists)."""
        ...

    def crl_state(self) -> CrlState | None:
        """The number, revision and thisUpdate of the CRL last published by any process."""
        ...

    def crl_der(self, number: int) -> bytes | None:
        """The published CRL, if its number is still ``number``."""
        ...

    def publish_crl(self, state: CrlState, der: bytes) -> bool:
        """Publish CRL number ``state.number`` if the published one is the number before
        (none for 1); False if another process published it first."""
        ...

    def use_token(self, token_id: str, provisioner: str, expires_at: datetime.datetime) -> bool:
        """Mark a one-time token used: True the first time, False ever after,
        across every process sharing the database."""
        ...

    def use_token_and_record(self, token_id: str, provisioner: str, expires_at: datetime.datetime,
                             record: CertificateRecord, *, key: str = "") -> bool:
        """``use_token`` and ``record_certificate`` in one transaction: False, with
        nothing written, if the token was used before; ``Conflict`` or ``KeyBlocked``, with
        nothing written (the token stays unused), if the serial exists or the key is blocked."""
        ...

    def purge_expired(self, now: datetime.datetime) -> dict[str, int]:
        """Delete used tokens and ACME state (nonces, orders, authorizations, challenges)
        past their expiry, and SCEP transactions past their lifetime; the rows deleted, by kind."""
        ...

    @property
    def dialect(self) -> str: ...

    def transaction(self, *, immediate: bool = False) -> contextlib.AbstractContextManager[Connection]:
        """One short transaction, for stores that share this database (ACME, SSH)."""
        ...

    def close(self) -> None: ...
