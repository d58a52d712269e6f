"""The names of each certificate, lower case, for the console's search by name: the subject's
common names and every SAN, one row each (created and backfilled by migration 15, written in
the transaction that records the certificate). A search matches a name or its beginning,
read from the index on ``(name, serial)`` (``text_pattern_ops`` on PostgreSQL, so ``LIKE 'x%'``
uses it whatever the database's collation; a binary collation on MySQL; a range on SQLite) in
that index's order, so that a page of matches reads a page of the index however many match."""

from __future__ import annotations

from typing import Any, Iterable

from cryptography import x509
from sqlalchemy import Column, ColumnElement, Connection, Index, String, Table, and_, insert, literal, or_, select
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from appliance.db.prepared import Prepared
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


_INSERT_NAMES = Prepared(insert(certificate_names), ("name", "serial"))


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
    insert_names(conn, serial, searchable_names(subject, sans))


def insert_names(conn: Connection, serial: str, names: Iterable[str]) -> None:
    """Record ``searchable_names`` found before the transaction (SQLite's write lock is not held
    while the subject is parsed)."""
    rows = [{"name": name, "serial": serial} for name in sorted(names)]
    if rows:
        _INSERT_NAMES.execute_each(conn, rows)


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


class _BytewiseOrder(ColumnElement[str]):
    """A name in the order of its index: ``name USING ~<~`` on PostgreSQL (the ``text_pattern_ops``
    order; plain ``ORDER BY name`` follows the collation and would sort every match), the column's
    own (binary) order elsewhere."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[str]) -> None:
        self.column = column


@compiles(_BytewiseOrder)
def _order(element: _BytewiseOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(_BytewiseOrder, "postgresql")
def _order_postgresql(element: _BytewiseOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} USING ~<~"


def _compare(operator: str, value: str, dialect: str) -> ColumnElement[bool]:
    """``name <operator> value`` byte-wise (``~>~`` and kin on PostgreSQL: what its index answers)."""
    name = certificate_names.c.name
    return name.op(f"~{operator}~" if dialect == "postgresql" else operator, is_comparison=True)(literal(value))


def names_beginning(prefix: str, dialect: str) -> ColumnElement[bool]:
    """Names that are ``prefix`` or begin with it (case-insensitive): a range of the name index."""
    prefix = prefix.lower()[:NAME_LENGTH]
    name = certificate_names.c.name
    if dialect == "sqlite":  # LIKE is case-insensitive there and so reads no index: a range does
        return name.between(literal(prefix), literal(prefix + _LAST_CHARACTER))
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return name.like(escaped + "%", escape="\\")


def name_order() -> tuple[ColumnElement[Any], ...]:
    """The order of the name index: name (byte-wise), then serial."""
    return _BytewiseOrder(certificate_names.c.name), certificate_names.c.serial


def names_after(name: str, serial: str, dialect: str) -> ColumnElement[bool]:
    """Rows after (``name``, ``serial``) in ``name_order``: a range of the index that starts there
    (written out, not as a row comparison, which MariaDB reads no range of)."""
    return and_(_compare(">=", name, dialect),
                or_(_compare(">", name, dialect), certificate_names.c.serial > literal(serial)))
