"""The relational schema, as the latest migration leaves it.

Each table is created by one step of ``appliance.db.migrations``. A change to
an existing table is a new migration step (``ALTER TABLE``); the step that
created the table must then keep creating the old shape (freeze its definition
inside that step), so that a fresh database and an upgraded one end up equal.
"""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Column, ColumnElement, ForeignKey, Index, Integer, MetaData, ScalarSelect, String, Table,
                        Text, select)

from appliance.db.types import UTCDateTime

metadata = MetaData()

# Serials are decimal strings: a 20-byte serial has at most 49 digits.
SERIAL = String(64)
NAME = String(255)

certificates = Table(
    "certificates",
    metadata,
    Column("serial", SERIAL, primary_key=True),
    Column("subject", Text, nullable=False),
    Column("sans", JSON, nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("provisioner", NAME, nullable=False),
    Column("pem", Text, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Index("ix_certificates_not_after", "not_after"),
    Index("ix_certificates_provisioner_not_after", "provisioner", "not_after"),  # migration 15
    Index("ix_certificates_not_after_serial", "not_after", "serial"),  # migration 15
)

revocations = Table(
    "revocations",
    metadata,
    Column("serial", SERIAL, primary_key=True),
    Column("reason_code", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=False),
    Column("provisioner", NAME, nullable=False),
    Column("passive", Boolean, nullable=False),
    Column("mtls", Boolean, nullable=False),
    #: The revoked certificate's ``not_after`` (NULL for a serial not recorded): the console counts the
    #: revoked certificates expiring soon on its index, without a join (migration 21).
    Column("not_after", UTCDateTime, nullable=True),
    Index("ix_revocations_revoked_at", "revoked_at"),
    Index("ix_revocations_not_after", "not_after"),  # migration 21
)

used_tokens = Table(
    "used_tokens",
    metadata,
    Column("token_id", NAME, primary_key=True),
    Column("provisioner", NAME, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=False),
    Index("ix_used_tokens_expires_at", "expires_at"),
)

provisioners = Table(
    "provisioners",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", NAME, nullable=False),
    Column("type", String(32), nullable=False),
    Column("details", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    Index("ix_provisioners_name", "name"),
)

admins = Table(
    "admins",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("provisioner_id", String(64), ForeignKey("provisioners.id"), nullable=False),
    Column("subject", NAME, nullable=False),
    Column("type", String(32), nullable=False),
    Column("details", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    Index("ix_admins_provisioner_id", "provisioner_id"),
)

# One row per kind of change that processes cache: bumped in the transaction that
# makes the change, so a cache is current while the revision it was built at is.
REVOCATIONS_REVISION = "revocations"

revisions = Table(
    "revisions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# Keys whose certificates were revoked for keyCompromise: no new certificate for them.
blocked_keys = Table(
    "blocked_keys",
    metadata,
    Column("spki_sha256", String(64), primary_key=True),
    Column("serial", SERIAL, nullable=False),
    Column("blocked_at", UTCDateTime, nullable=False),
)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", NAME, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)


def revoked_not_after(serial: str | ColumnElement[str]) -> ScalarSelect[object]:
    """What a revocation of ``serial`` keeps in ``revocations.not_after``: its certificate's, read in the insert."""
    return select(certificates.c.not_after).where(certificates.c.serial == serial).scalar_subquery()
