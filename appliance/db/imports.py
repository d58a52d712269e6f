"""Rows brought in from another CA's store (``appliance migrate``): each written only
if its primary key is absent, in the caller's transaction, so that an import that
runs twice adds nothing the second time and one that fails midway adds nothing."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, insert, select, update

from appliance.db.admin_store import _bump, _record
from appliance.db.interfaces import CertificateRecord
from appliance.db.name_index import index_names
from appliance.db.schema import REVOCATIONS_REVISION, certificates, revisions

#: The ``actor`` of what ``appliance migrate`` imports, in the admin change record.
IMPORT_ACTOR = "migrate step-ca"


def insert_absent(conn: Connection, table: Table, row: dict[str, Any]) -> bool:
    """Insert ``row`` (values or SQL expressions) unless a row with its primary key exists; True if inserted."""
    key = list(table.primary_key.columns)
    if conn.execute(select(*key).where(and_(*(column == row[column.name] for column in key)))).first():
        return False
    conn.execute(insert(table).values(row))
    return True


def import_certificate(conn: Connection, record: CertificateRecord) -> bool:
    """An issued certificate, indexed by name for the inventory's search, unless its serial is recorded."""
    inserted = insert_absent(conn, certificates, {
        "serial": record.serial, "subject": record.subject, "sans": list(record.sans),
        "not_before": record.not_before, "not_after": record.not_after,
        "provisioner": record.provisioner, "pem": record.pem, "issued_at": record.issued_at,
    })
    if inserted:
        index_names(conn, record.serial, record.subject, record.sans)
    return inserted


def revocations_changed(conn: Connection) -> None:
    """Bump the revocations revision, so every process rebuilds its cached CRL and OCSP answers."""
    conn.execute(update(revisions).where(revisions.c.name == REVOCATIONS_REVISION)
                 .values(value=revisions.c.value + 1))


def record_admin_import(conn: Connection, now: datetime.datetime, kind: str, object_id: str,
                        after: dict[str, Any]) -> None:
    """Record an imported provisioner or admin as remote management records its changes (and
    bump the admin revision, so running instances reload)."""
    _record(conn, now, IMPORT_ACTOR, "create", kind, object_id, _bump(conn), None, after)
