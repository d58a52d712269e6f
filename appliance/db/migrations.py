"""Versioned schema migrations, applied when a database is opened.

Steps run in order, each at most once, inside one transaction that holds a
database-wide lock (``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite, the session lock ``GET_LOCK`` on MySQL), so several CA
processes starting at once against one database migrate it exactly once.
PostgreSQL and SQLite have transactional DDL: a failed step leaves nothing
behind. MySQL commits each DDL statement at once: there a step is written to be
re-run over what an interrupted run of it left (tables created only if absent,
rows inserted only if absent). Adding tables (ACME state, ...) is a
new entry at the end of ``STEPS``; never edit or reorder a released step.

Tables are declared once, as they are now: a step that creates a table creates
it with the columns later steps add, and those steps (``_add_columns``) then
skip what is already there.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from dataclasses import dataclass
from typing import Callable, Iterator

from sqlalchemy import Connection, Engine, Table, inspect, select, text
from sqlalchemy.schema import CreateColumn

from appliance.db import (acme_schema, admin_schema, audit_schema, console_sessions, crl_store, name_index, scep_schema,
                          schema, ssh_schema)
from appliance.errors import Unavailable

log = logging.getLogger(__name__)

# Any constant shared by every appliance: advisory locks are per database.
_PG_LOCK_KEY = 0x61707069616E6365  # "appliance"
_MYSQL_LOCK_NAME = "appliance-migrations"  # GET_LOCK names are per server: prefixed with the database's
_MYSQL_LOCK_TIMEOUT_S = 300


@dataclass(frozen=True)
class Step:
    """One migration: ``apply`` runs inside the migration transaction."""

    version: int
    name: str
    apply: Callable[[Connection], None]


def _create(*tables: Table) -> Callable[[Connection], None]:
    """A step that creates tables (with their indexes)."""

    def apply(conn: Connection) -> None:
        schema.metadata.create_all(conn, tables=list(tables), checkfirst=conn.dialect.name == "mysql")

    return apply


def _add_columns(table: Table, *names: str) -> Callable[[Connection], None]:
    """A step that adds columns (as ``table`` declares them) to a table an earlier step created."""

    def apply(conn: Connection) -> None:
        present = {column["name"] for column in inspect(conn).get_columns(table.name)}
        for name in names:
            if name not in present:
                column = CreateColumn(table.c[name]).compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column}"))

    return apply


def _add_revision(conn: Connection, name: str) -> None:
    """A revision row at 0, unless there is one."""
    if conn.execute(select(schema.revisions.c.name).where(schema.revisions.c.name == name)).first() is None:
        conn.execute(schema.revisions.insert().values(name=name, value=0))


def _create_revisions(conn: Connection) -> None:
    """The revisions table, with the revocations' revision at 0."""
    _create(schema.revisions)(conn)
    _add_revision(conn, schema.REVOCATIONS_REVISION)


def _create_admin_changes(conn: Connection) -> None:
    """The change record of remote management, and its revision at 0."""
    _create(admin_schema.admin_changes)(conn)
    _add_revision(conn, admin_schema.ADMIN_REVISION)


def _remote_management_16(conn: Connection) -> None:
    """The reference and the account policy the admin API gives an EAB key; the authority
    policy it sets."""
    _add_columns(acme_schema.acme_eab_keys, "reference", "policy")(conn)
    _create(admin_schema.authority_policies)(conn)


def _revocations_not_after_21(conn: Connection) -> None:
    """Each revocation with its certificate's ``not_after``, indexed. Re-runnable (MySQL commits each DDL)."""
    _add_columns(schema.revocations, "not_after")(conn)
    conn.execute(schema.revocations.update().where(schema.revocations.c.not_after.is_(None))
                 .values(not_after=schema.revoked_not_after(schema.revocations.c.serial)))
    for index in schema.revocations.indexes:
        if index.name == "ix_revocations_not_after":
            index.create(conn, checkfirst=True)


STEPS: tuple[Step, ...] = (
    Step(1, "certificates, revocations, used tokens",
         _create(schema.certificates, schema.revocations, schema.used_tokens)),
    Step(2, "provisioners and admins", _create(schema.provisioners, schema.admins)),
    Step(3, "ACME accounts, EAB keys, orders, authorizations, challenges, nonces, certificates",
         _create(*acme_schema.TABLES)),
    Step(4, "ACME challenges: when validation started",
         _add_columns(acme_schema.acme_challenges, "processing_since")),
    Step(5, "revisions: what a cached CRL was built from", _create_revisions),
    Step(6, "crls: the published CRL and its number, shared by every process", _create(crl_store.crls)),
    Step(7, "blocked keys: keys revoked for keyCompromise", _create(schema.blocked_keys)),
    Step(8, "SSH certificates, revoked SSH serials and keys", _create(*ssh_schema.TABLES)),
    Step(9, "SCEP transactions: replays answered with the certificate issued once", _create(*scep_schema.TABLES)),
    Step(10, "ACME authorizations: what a device-attest-01 attestation proved",
         _add_columns(acme_schema.acme_authorizations, "attestation")),
    Step(11, "admin changes: who changed provisioners and admins, before and after", _create_admin_changes),
    Step(12, "audit log: hash-chained records, their head, signed checkpoints", audit_schema.create_audit_tables),
    Step(14, "ACME orders: the profile a new-order named", _add_columns(acme_schema.acme_orders, "profile")),
    Step(15, "certificate names for the console's search; certificates by provisioner and expiry",
         name_index.create_name_index),
    Step(16, "remote management: ACME EAB key references and account policies, the authority's policy",
         _remote_management_16),
    Step(17, "SCEP transactions: pending and denied states, the CSR a deferred challenge decides on",
         _add_columns(scep_schema.scep_transactions, "state", "csr")),
    Step(20, "console sessions: logins through an OpenID provider", _create(console_sessions.console_sessions)),
    Step(21, "revocations: the certificate's expiry, for the console's expiry timeline", _revocations_not_after_21),
)

LATEST = STEPS[-1].version


def _lock(conn: Connection) -> None:
    """Serialise migrators; the lock ends with the transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


@contextlib.contextmanager
def _mysql_session_lock(conn: Connection) -> Iterator[None]:
    """MySQL's DDL ends transactions: hold a named session lock across the whole run instead."""
    if conn.dialect.name != "mysql":
        yield
        return
    name = f"{_MYSQL_LOCK_NAME}:{conn.exec_driver_sql('SELECT DATABASE()').scalar()}"
    if conn.execute(text("SELECT GET_LOCK(:name, :timeout)"),
                    {"name": name, "timeout": _MYSQL_LOCK_TIMEOUT_S}).scalar() != 1:
        raise Unavailable(f"another process has held the migration lock {name} for {_MYSQL_LOCK_TIMEOUT_S} s")
    conn.commit()
    try:
        yield
    finally:
        conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
        conn.commit()


def migrate(engine: Engine) -> list[int]:
    """Apply the steps this database lacks; the versions applied now."""
    applied_now: list[int] = []
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, _mysql_session_lock(conn), \
            conn.begin():
        _lock(conn)
        schema.schema_migrations.create(conn, checkfirst=True)
        done = set(conn.scalars(select(schema.schema_migrations.c.version)))
        for step in STEPS:
            if step.version in done:
                continue
            log.info("database migration %d: %s", step.version, step.name)
            step.apply(conn)
            conn.execute(schema.schema_migrations.insert().values(
                version=step.version, name=step.name,
                applied_at=datetime.datetime.now(datetime.timezone.utc)))
            applied_now.append(step.version)
        newer = sorted(v for v in done if v > LATEST)
    if newer:
        log.warning("the database has migrations %s that this version does not know; "
                    "a newer appliance shares it", newer)
    return applied_now
