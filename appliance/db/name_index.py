"""The names of each certificate, lower case, for the console's search by name: the subject's
common names and every SAN, one row each (created and backfilled by migration 15, written in
the transaction that records the certificate). A search matches a name or its beginning,
read from the index on ``name`` (``text_pattern_ops`` on PostgreSQL, so ``LIKE 'x%'`` uses it
whatever the database's collation; a binary collation on MySQL; a range on SQLite)."""

from __future__ import annotations

from typing import Iterable

from cryptography import x509
from sqlalchemy import Column, ColumnElement, Connection, Index, String, Table, insert, literal, select
from sqlalchemy.dialects import mysql

from appliance.db.schema import SERIAL, certificates, metadata

#: Names are stored (and searched) up to this length: a longer one is found by its beginning.
NAME_LENGTH = 255
_BATCH = 5000
_LAST_CHARACTER = "\U0010ffff"
#: The certificates' indexes migration 15 adds: the provisioner filter in expiry order, and the
#: expiry timeline's count of revoked certificates without reading the table.
MIGRATION_15_INDEXES = ("ix_certificates_provisioner_not_after", "ix_certificates_not_after_serial")

certificate_names = Table(
    "certificate_names",
    metadata,
    Column("name", String(NAME_LENGTH).with_variant(mysql.VARCHAR(NAME_LENGTH, collation="utf8mb4_bin"), "mysql"),
           nullable=False),
    Column("serial", SERIAL, nullable=False),
    Index("ix_certificate_names_name", "name", "serial", unique=True, postgresql_ops={"name": "text_pattern_ops"}),
)


_INSERT_NAMES = insert(certificate_names)


def searchable_names(subject: str, sans: Iterable[str]) -> set[str]:
    """The subject's common names (from its RFC 4514 string) and the SANs, lower case."""
    try:
        common = [str(a.value) for a in x509.Name.from_rfc4514_string(subject)
                  .get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    except ValueError:  # a subject this parser cannot read: its SANs are still found
        common = []
    return {name.lower()[:NAME_LENGTH] for name in (*common, *sans) if name}


def index_names(conn: Connection, serial: str, subject: str, sans: Iterable[str]) -> None:
    """Record a certificate's names, in ``conn``'s transaction."""
    rows = [{"name": name, "serial": serial} for name in sorted(searchable_names(subject, sans))]
    if rows:
        conn.execute(_INSERT_NAMES, rows)


def create_name_index(conn: Connection) -> None:
    """Migration 15: the table, filled from the certificates already recorded, and the certificates'
    ``MIGRATION_15_INDEXES``. Re-runnable (MySQL commits each DDL)."""
    mysql_dialect = conn.dialect.name == "mysql"
    metadata.create_all(conn, tables=[certificate_names], checkfirst=mysql_dialect)
    if mysql_dialect:  # what an interrupted run left
        conn.execute(certificate_names.delete())
    last = ""
    while True:  # in pages by serial: MySQL's driver runs no statement while another streams rows
        rows = conn.execute(select(certificates.c.serial, certificates.c.subject, certificates.c.sans)
                            .where(certificates.c.serial > last).order_by(certificates.c.serial).limit(_BATCH)).all()
        if not rows:
            break
        batch = [{"name": name, "serial": row.serial}
                 for row in rows for name in searchable_names(row.subject, row.sans)]
        if batch:
            conn.execute(insert(certificate_names), batch)
        last = rows[-1].serial
    for index in certificates.indexes:
        if index.name in MIGRATION_15_INDEXES:
            index.create(conn, checkfirst=True)


def serials_named(prefix: str, dialect: str) -> ColumnElement[bool]:
    """Certificates with a name that is ``prefix`` or begins with it (case-insensitive)."""
    prefix = prefix.lower()[:NAME_LENGTH]
    name = certificate_names.c.name
    if dialect == "sqlite":  # LIKE is case-insensitive there and so reads no index: a range does
        found = name.between(literal(prefix), literal(prefix + _LAST_CHARACTER))
    else:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found = name.like(escaped + "%", escape="\\")
    return certificates.c.serial.in_(select(certificate_names.c.serial).where(found))
