"""The ``Database`` protocol on SQLAlchemy Core: one short transaction per call."""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import logging
import threading
from typing import Any, Callable, ContextManager, Iterator, TypeVar

from sqlalchemy import Connection, Engine, Row, bindparam, delete, exc, insert, or_, select, text, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import URL

from appliance.db import crl_store, migrations
from appliance.db.name_index import insert_names, searchable_names
from appliance.db.crl_store import CrlState
from appliance.db.acme_retention import purge_expired_acme
from appliance.db.scep_schema import purge_old_scep_transactions
from appliance.db.engine import create_database_engine, create_database_if_absent, database_url, sqlite_synchronous
from appliance.db.interfaces import CertificateRecord, KeyBlocked, RevocationRecord
from appliance.db.prepared import Prepared
from appliance.db.schema import (REVOCATIONS_REVISION, blocked_keys, certificates, revisions, revocations,
                                 revoked_not_after, used_tokens)
from appliance.errors import Conflict, Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

UTC = datetime.timezone.utc
# Engines that lose the connection or time out; a bad statement is a bug, not these.
_UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)
#: How many times a write transaction runs when the database keeps picking it as a deadlock's
#: victim (InnoDB's gap locks under concurrent renew and revoke; PostgreSQL's detector).
DEADLOCK_ATTEMPTS = 3
_MYSQL_DEADLOCK = 1213
_POSTGRESQL_RETRYABLE = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


class _Deadlocked(Unavailable):
    """The database rolled the transaction back to break a deadlock: it can run again."""


def _is_deadlock(err: exc.DBAPIError) -> bool:
    driver_error = err.orig
    code = getattr(driver_error, "args", (None,))[:1]
    return code == (_MYSQL_DEADLOCK,) or getattr(driver_error, "sqlstate", None) in _POSTGRESQL_RETRYABLE


def _retried_when_deadlocked(write: Callable[..., T]) -> Callable[..., T]:
    """Run a write transaction again (up to ``DEADLOCK_ATTEMPTS`` in all) when the database chose
    it as a deadlock's victim: it was rolled back whole, so nothing of it was kept."""
    @functools.wraps(write)
    def run(*args: Any, **kwargs: Any) -> T:
        for _ in range(DEADLOCK_ATTEMPTS - 1):
            try:
                return write(*args, **kwargs)
            except _Deadlocked:
                log.info("%s was a deadlock's victim: running it again", write.__name__)
        return write(*args, **kwargs)
    return run


# A used token is visible to every instance as soon as it commits; only its
# flush to disk is deferred (<1 s, lost only if PostgreSQL itself crashes: the
# same durability as SQLite's WAL with synchronous=NORMAL). This halves the
# fsyncs per issuance; certificate records keep full synchronous commits.
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO off")

# Held until the transaction ends; revoke and renew of one serial take it, so the one
# that commits second sees the other's row (SQLite's BEGIN IMMEDIATE serialises already).
_SERIAL_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


#: Statements of every issuance, compiled once per dialect and run on the DB-API cursor.
_BLOCKED = Prepared(select(blocked_keys.c.serial).where(blocked_keys.c.spki_sha256 == bindparam("key")), ["key"])
_CERTIFICATE_COLUMNS = ("serial", "subject", "sans", "not_before", "not_after", "provisioner", "pem", "issued_at")
_INSERT_CERTIFICATE = Prepared(insert(certificates), _CERTIFICATE_COLUMNS)
_TOKEN_COLUMNS = ("token_id", "provisioner", "expires_at", "used_at")


def _serial_lock_key(serial: str) -> int:
    """A signed 64-bit advisory-lock key for a serial's revocation status."""
    return int.from_bytes(hashlib.sha256(b"revocation:" + serial.encode()).digest()[:8], "big", signed=True)


@functools.cache
def _insert_if_absent(dialect: str) -> Prepared:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING``: a row back only for the first use
    (MySQL: ``INSERT IGNORE``, one row affected only for the first use).

    The primary key makes it atomic across processes; no error, so no aborted
    transaction to roll back on PostgreSQL."""
    if dialect == "mysql":
        return Prepared(mysql.insert(used_tokens).prefix_with("IGNORE"), _TOKEN_COLUMNS)
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return Prepared(dialect_insert(used_tokens).on_conflict_do_nothing().returning(used_tokens.c.token_id),
                    _TOKEN_COLUMNS)


def mark_token_used(conn: Connection, token_id: str, provisioner: str, expires_at: datetime.datetime) -> bool:
    """Spend a one-time token in ``conn``'s transaction: False if it was spent already."""
    dialect = conn.dialect.name
    cursor = _insert_if_absent(dialect).execute(conn, {"token_id": token_id, "provisioner": provisioner,
                                                       "expires_at": expires_at, "used_at": datetime.datetime.now(UTC)})
    return cursor.rowcount == 1 if dialect == "mysql" else cursor.fetchone() is not None


AuditHook = Callable[[Connection, CertificateRecord | RevocationRecord, str], None]
"""``(transaction, what was recorded, serial it renews or "")``."""


class SQLDatabase:
    """Certificates, revocations and used tokens in SQLite, PostgreSQL or MySQL/MariaDB."""

    def __init__(self, engine: Engine, *, url: URL) -> None:
        self.engine = engine
        # Safe to log: no password, and no query (libpq accepts ?password=... too).
        self.description = url.set(query={}).render_as_string(hide_password=True)
        self._secret = url.password
        # SQLite has one writer at a time. This process's writers queue on a lock (and are
        # woken as soon as it is free) rather than each sleeping in SQLite's busy handler
        # (back-offs of up to 100 ms); only other processes are waited for there.
        self._writer: ContextManager[Any] = threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        #: Called in the transaction that records a certificate or a revocation (the audit log's append),
        #: so that the change and its audit record commit together or not at all.
        self.audit_hook: AuditHook | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        """Turn connection failures into ``Unavailable`` (without the password) and
        give back the caller's own mistakes (a naive datetime) unwrapped."""
        try:
            yield
        except _UNAVAILABLE as err:
            failure = _Deadlocked if isinstance(err, exc.DBAPIError) and _is_deadlock(err) else Unavailable
            raise failure(f"database {self.description} is unavailable: {self._describe(err)}") from None
        except exc.StatementError as err:
            if isinstance(err.orig, ValueError):
                raise err.orig from None
            raise

    @contextlib.contextmanager
    def _begin(self, *, immediate: bool = False) -> Iterator[Connection]:
        """One short transaction. On SQLite, one that reads before it writes must be
        ``immediate``: a deferred one holds a read snapshot that another writer may
        move past, and then fails ("database is locked") without waiting for the
        busy timeout. ``BEGIN IMMEDIATE`` takes the write lock first (waiting for
        it, behind this process's other writers); PostgreSQL needs nothing of the kind.
        Every transaction that writes is ``immediate``."""
        with self._reachable(), self._writer if immediate else contextlib.nullcontext(), \
                self.engine.connect() as conn:
            if immediate:
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def _describe(self, err: exc.SQLAlchemyError) -> str:
        """The driver's first line, with any password scrubbed."""
        orig = getattr(err, "orig", None) or err
        first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        return first.replace(str(self._secret), "***") if self._secret else first

    def transaction(self, *, immediate: bool = False) -> contextlib.AbstractContextManager[Connection]:
        """One short transaction, for stores that share this database (ACME); ``immediate``
        for one that reads before it writes (see ``_begin``)."""
        return self._begin(immediate=immediate)

    def migrate(self) -> list[int]:
        """Bring the schema up to date; the versions applied now."""
        with self._reachable():
            create_database_if_absent(self.engine)
            return migrations.migrate(self.engine)

    @staticmethod
    @contextlib.contextmanager
    def _new_serial(serial: str) -> Iterator[None]:
        """``Conflict`` for a serial that is already recorded."""
        try:
            yield
        except exc.IntegrityError:
            raise Conflict(f"a certificate with serial {serial} is already recorded") from None

    @staticmethod
    def _refuse_blocked(conn: Connection, key: str) -> None:
        """``KeyBlocked`` if ``key`` (an SPKI SHA-256, or "" for no check) is blocked."""
        if key and _BLOCKED.first(conn, {"key": key}) is not None:
            raise KeyBlocked("the key was reported compromised (a certificate for it was revoked "
                             "for keyCompromise): use a new key")

    def _insert_certificate(self, conn: Connection, record: CertificateRecord, names: set[str],
                            renews: str = "") -> None:
        """The certificate, its ``searchable_names`` and its audit record, in ``conn``'s transaction."""
        if self.audit_hook is not None:
            self.audit_hook(conn, record, renews)
        _INSERT_CERTIFICATE.execute(conn, {
            "serial": record.serial, "subject": record.subject, "sans": list(record.sans),
            "not_before": record.not_before, "not_after": record.not_after,
            "provisioner": record.provisioner, "pem": record.pem, "issued_at": record.issued_at,
        })
        insert_names(conn, record.serial, names)

    def _lock_revocation_status(self, conn: Connection, serial: str) -> None:
        """Serialise with any other transaction on ``serial``'s revocation (PostgreSQL)."""
        if self.dialect == "postgresql":
            conn.execute(_SERIAL_LOCK, {"key": _serial_lock_key(serial)})

    @_retried_when_deadlocked
    def record_certificate(self, record: CertificateRecord, *, key: str = "") -> None:
        names = searchable_names(record.subject, record.sans)
        with self._new_serial(record.serial), self._begin(immediate=True) as conn:
            self._refuse_blocked(conn, key)
            self._insert_certificate(conn, record, names)

    @_retried_when_deadlocked
    def use_token_and_record(self, token_id: str, provisioner: str, expires_at: datetime.datetime,
                             record: CertificateRecord, *, key: str = "") -> bool:
        names = searchable_names(record.subject, record.sans)
        with self._new_serial(record.serial), self._begin(immediate=True) as conn:
            self._refuse_blocked(conn, key)
            if not mark_token_used(conn, token_id, provisioner, expires_at):
                return False
            self._insert_certificate(conn, record, names)
        return True

    @_retried_when_deadlocked
    def record_renewal(self, renewed_serial: str, record: CertificateRecord, *, key: str = "") -> bool:
        names = searchable_names(record.subject, record.sans)
        with self._new_serial(record.serial), self._begin(immediate=True) as conn:
            self._refuse_blocked(conn, key)
            self._lock_revocation_status(conn, renewed_serial)
            # MySQL: a locking read of the (absent) row holds its gap until commit, so a revocation's
            # insert waits for this renewal, and this read sees a revocation committed before it.
            if conn.execute(select(revocations.c.serial).where(revocations.c.serial == renewed_serial)
                            .with_for_update()).first():
                return False
            self._insert_certificate(conn, record, names, renewed_serial)
        return True

    def get_certificate(self, serial: str) -> CertificateRecord | None:
        with self._begin() as conn:
            row = conn.execute(select(certificates).where(certificates.c.serial == serial)).first()
        return None if row is None else _certificate(row)

    @_retried_when_deadlocked
    def revoke(self, record: RevocationRecord, *, block_key: str = "") -> None:
        try:
            with self._begin(immediate=True) as conn:
                self._lock_revocation_status(conn, record.serial)
                conn.execute(insert(revocations).values(
                    serial=record.serial, reason_code=record.reason_code, reason=record.reason,
                    revoked_at=record.revoked_at, provisioner=record.provisioner,
                    passive=record.passive, mtls=record.mtls, not_after=revoked_not_after(record.serial)))
                if block_key and not conn.execute(select(blocked_keys.c.serial)
                                                  .where(blocked_keys.c.spki_sha256 == block_key)).first():
                    conn.execute(insert(blocked_keys), {"spki_sha256": block_key, "serial": record.serial,
                                                        "blocked_at": record.revoked_at})
                conn.execute(update(revisions).where(revisions.c.name == REVOCATIONS_REVISION)
                             .values(value=revisions.c.value + 1))
                if self.audit_hook is not None:
                    self.audit_hook(conn, record, "")
        except exc.IntegrityError:
            raise Conflict(f"serial {record.serial} is already revoked") from None

    def is_key_blocked(self, spki_sha256: str) -> bool:
        with self._begin() as conn:
            return _BLOCKED.first(conn, {"key": spki_sha256}) is not None

    def get_revocation(self, serial: str) -> RevocationRecord | None:
        with self._begin() as conn:
            row = conn.execute(select(revocations).where(revocations.c.serial == serial)).first()
        return None if row is None else _revocation(row)

    def revocations_revision(self) -> int:
        with self._begin() as conn:
            return int(conn.execute(select(revisions.c.value).where(revisions.c.name == REVOCATIONS_REVISION))
                       .scalar_one())

    def list_revocations(self, *, active_only: bool = False) -> list[RevocationRecord]:
        query = select(revocations).order_by(revocations.c.revoked_at, revocations.c.serial)
        if active_only:
            now = datetime.datetime.now(UTC)
            query = query.outerjoin(certificates, certificates.c.serial == revocations.c.serial).where(
                or_(certificates.c.not_after.is_(None), certificates.c.not_after > now))
        with self._begin() as conn:
            return [_revocation(row) for row in conn.execute(query)]

    def crl_state(self) -> CrlState | None:
        with self._begin() as conn:
            return crl_store.crl_state(conn)

    def crl_der(self, number: int) -> bytes | None:
        with self._begin() as conn:
            return crl_store.crl_der(conn, number)

    @_retried_when_deadlocked
    def publish_crl(self, state: CrlState, der: bytes) -> bool:
        try:
            with self._begin(immediate=True) as conn:
                return crl_store.publish_crl(conn, state, der)
        except exc.IntegrityError:  # another process inserted the first CRL at the same moment
            return False

    @_retried_when_deadlocked
    def use_token(self, token_id: str, provisioner: str, expires_at: datetime.datetime) -> bool:
        with self._begin(immediate=True) as conn:
            if self.dialect == "postgresql":
                conn.execute(_ASYNC_COMMIT)
            return mark_token_used(conn, token_id, provisioner, expires_at)

    @_retried_when_deadlocked
    def purge_expired(self, now: datetime.datetime) -> dict[str, int]:
        with self._begin(immediate=True) as conn:
            used = conn.execute(delete(used_tokens).where(used_tokens.c.expires_at < now)).rowcount
            return {"used_tokens": used, **purge_expired_acme(conn, now), **purge_old_scep_transactions(conn, now)}

    def close(self) -> None:
        self.engine.dispose()


def _certificate(row: Row[Any]) -> CertificateRecord:
    return CertificateRecord(
        serial=row.serial, subject=row.subject, sans=tuple(row.sans), not_before=row.not_before,
        not_after=row.not_after, provisioner=row.provisioner, pem=row.pem, issued_at=row.issued_at)


def _revocation(row: Row[Any]) -> RevocationRecord:
    return RevocationRecord(
        serial=row.serial, reason_code=row.reason_code, reason=row.reason, revoked_at=row.revoked_at,
        provisioner=row.provisioner, passive=bool(row.passive), mtls=bool(row.mtls))


def open_database(db_config: dict[str, Any]) -> SQLDatabase:
    """Open the database of step-ca's ``db`` section and migrate it to the latest schema."""
    url = database_url(db_config)
    database = SQLDatabase(create_database_engine(url, synchronous=sqlite_synchronous(db_config, url)), url=url)
    try:
        applied = database.migrate()
    except BaseException:
        database.close()
        raise
    if applied:
        log.info("database %s migrated to version %d", database.description, applied[-1])
    return database
