"""The SSH CA's store (tables in ``appliance.db.ssh_schema``): issued SSH
certificates, revoked serials (with the CA key that signed them, for the KRL) and revoked
keys. Shared by every process on the database, so each one's KRL is the same."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, exc, func, insert, select

from appliance.db.interfaces import Database
from appliance.db.sql import mark_token_used
from appliance.db.ssh_schema import ssh_certificates, ssh_revocations, ssh_revoked_keys
from appliance.errors import Conflict

@dataclass(frozen=True)
class SshCertificateRecord:
    """An issued SSH certificate; ``key_sha256`` is the hex SHA-256 of its key's wire form."""

    serial: int
    cert_type: str
    key_id: str
    principals: tuple[str, ...]
    valid_after: datetime.datetime
    valid_before: datetime.datetime
    provisioner: str
    key_sha256: str
    certificate: str
    issued_at: datetime.datetime


@dataclass(frozen=True)
class SshRevocation:
    """A revoked certificate serial and the CA key (wire form, base64) that signed it."""

    serial: int
    ca_key: str
    reason_code: int
    reason: str
    revoked_at: datetime.datetime
    provisioner: str


@dataclass(frozen=True)
class SshRevokedKey:
    """A revoked public key (wire form, base64): no certificate for it is valid or issued."""

    key_sha256: str
    key: str
    reason: str
    revoked_at: datetime.datetime
    provisioner: str


@dataclass(frozen=True)
class SshRevocationList:
    """Everything revoked, and a version that grows with every revocation."""

    version: int
    certificates: tuple[SshRevocation, ...]
    keys: tuple[SshRevokedKey, ...]


class SQLSshStore:
    """The SSH tables in the CA's database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def record_certificate(self, record: SshCertificateRecord,
                           token: tuple[str, str, datetime.datetime] | None = None) -> bool:
        """Record ``record``, and in the same transaction spend ``token`` (id, provisioner,
        expiry): False, and nothing recorded, if it was spent already. ``Conflict`` if the
        serial is taken."""
        try:
            with self._db.transaction(immediate=True) as conn:
                if token is not None:
                    token_id, provisioner, expires_at = token
                    if not mark_token_used(conn, token_id, provisioner, expires_at):
                        return False
                conn.execute(insert(ssh_certificates), {
                    **{name: getattr(record, name) for name in record.__dataclass_fields__},
                    "serial": str(record.serial), "principals": list(record.principals)})
        except exc.IntegrityError:
            raise Conflict(f"an SSH certificate with serial {record.serial} is already recorded") from None
        return True

    def use_token(self, token_id: str, provisioner: str, expires_at: datetime.datetime) -> bool:
        """Spend a one-time token (False if it was spent already)."""
        return self._db.use_token(token_id, provisioner, expires_at)

    def get_certificate(self, serial: int) -> SshCertificateRecord | None:
        with self._db.transaction() as conn:
            row = conn.execute(select(ssh_certificates).where(ssh_certificates.c.serial == str(serial))).first()
        return None if row is None else _certificate(row)

    def certificates(self, cert_type: str, now: datetime.datetime) -> list[SshCertificateRecord]:
        """The unexpired certificates of one type, newest first."""
        query = (select(ssh_certificates).where(ssh_certificates.c.cert_type == cert_type,
                                                ssh_certificates.c.valid_before > now)
                 .order_by(ssh_certificates.c.issued_at.desc()))
        with self._db.transaction() as conn:
            return [_certificate(row) for row in conn.execute(query)]

    def revoke_certificate(self, revocation: SshRevocation) -> None:
        """``Conflict`` if the serial is revoked already."""
        try:
            with self._db.transaction(immediate=True) as conn:
                conn.execute(insert(ssh_revocations), {
                    **{name: getattr(revocation, name) for name in revocation.__dataclass_fields__},
                    "serial": str(revocation.serial)})
        except exc.IntegrityError:
            raise Conflict(f"SSH certificate {revocation.serial} is already revoked") from None

    def revoke_key(self, revoked: SshRevokedKey) -> None:
        """``Conflict`` if the key is revoked already."""
        try:
            with self._db.transaction(immediate=True) as conn:
                conn.execute(insert(ssh_revoked_keys),
                             {name: getattr(revoked, name) for name in revoked.__dataclass_fields__})
        except exc.IntegrityError:
            raise Conflict("the SSH key is already revoked") from None

    def is_revoked(self, serial: int) -> bool:
        with self._db.transaction() as conn:
            return conn.execute(select(ssh_revocations.c.serial)
                                .where(ssh_revocations.c.serial == str(serial))).first() is not None

    def is_key_revoked(self, key_sha256: str) -> bool:
        with self._db.transaction() as conn:
            return conn.execute(select(ssh_revoked_keys.c.key_sha256)
                                .where(ssh_revoked_keys.c.key_sha256 == key_sha256)).first() is not None

    def revocation_list(self) -> SshRevocationList:
        """Every revocation, read in one transaction."""
        with self._db.transaction() as conn:
            certificates = tuple(_revocation(row) for row in conn.execute(select(ssh_revocations)))
            keys = tuple(_revoked_key(row) for row in conn.execute(select(ssh_revoked_keys)))
            count = conn.execute(select(func.count()).select_from(ssh_revocations)).scalar_one()
        return SshRevocationList(int(count) + len(keys), certificates, keys)


def _certificate(row: Row[Any]) -> SshCertificateRecord:
    values = row._asdict()
    return SshCertificateRecord(**{**values, "serial": int(values["serial"]), "principals": tuple(values["principals"])})


def _revocation(row: Row[Any]) -> SshRevocation:
    values = row._asdict()
    return SshRevocation(**{**values, "serial": int(values["serial"])})


def _revoked_key(row: Row[Any]) -> SshRevokedKey:
    return SshRevokedKey(**row._asdict())
