"""Remote management's state: provisioners and admins kept in the database (step-ca's
``enableAdmin``), and the record of every change made to them.

Every write bumps the ``admin`` revision first, in its own transaction: the row lock
it takes serialises writers on PostgreSQL and MySQL (SQLite's ``BEGIN IMMEDIATE``
does already), and other instances poll that revision to know when to reload.
Each change is recorded in ``admin_changes`` in the same transaction: who made it,
what it touched, and the object before and after (``None`` for a create's before
and a delete's after), for the audit log to read.
"""

from __future__ import annotations

import datetime
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from appliance.db.admin_schema import ADMIN_REVISION, admin_changes, authority_policies
from appliance.db.schema import admins, provisioners, revisions
from appliance.db.sql import SQLDatabase
from appliance.errors import BadRequest, NotFound, Unavailable

log = logging.getLogger(__name__)

#: The ``actor`` of the provisioners imported from ca.json on first start.
CA_JSON = "ca.json"
#: The id of the authority's policy row.
AUTHORITY_POLICY = "authority"

@dataclass(frozen=True)
class ProvisionerRecord:
    """A provisioner as step-ca's admin API has it: ``details`` is its ca.json object."""

    id: str
    name: str
    type: str
    details: dict[str, Any] = field(default_factory=dict)
    created_at: datetime.datetime | None = None


@dataclass(frozen=True)
class AdminRecord:
    """An admin: a certificate subject, authenticated through a provisioner, of type
    ``SUPER_ADMIN`` or ``ADMIN``."""

    id: str
    provisioner_id: str
    subject: str
    type: str
    created_at: datetime.datetime | None = None


@dataclass(frozen=True)
class Change:
    """One recorded change, as the audit log reads it."""

    id: int
    changed_at: datetime.datetime
    actor: str
    action: str
    kind: str
    object_id: str
    revision: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _provisioner_json(record: ProvisionerRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "type": record.type, "details": record.details}


def _admin_json(record: AdminRecord) -> dict[str, Any]:
    return {"id": record.id, "provisionerId": record.provisioner_id, "subject": record.subject, "type": record.type}


class AdminStore:
    """Provisioners, admins and their change record in the CA's database."""

    def __init__(self, database: SQLDatabase) -> None:
        self._db = database

    def revision(self) -> int:
        """The admin revision: it grows with every change (0 before the first)."""
        with self._db.transaction() as conn:
            return int(conn.execute(select(revisions.c.value).where(revisions.c.name == ADMIN_REVISION))
                       .scalar_one())

    # -- reads -----------------------------------------------------------------------

    def provisioners(self) -> list[ProvisionerRecord]:
        """The live provisioners, oldest first."""
        with self._db.transaction() as conn:
            rows = conn.execute(select(provisioners).where(provisioners.c.deleted_at.is_(None))
                                .order_by(provisioners.c.created_at, provisioners.c.id))
            return [_provisioner(row) for row in rows]

    def admins(self) -> list[AdminRecord]:
        """The live admins, oldest first."""
        with self._db.transaction() as conn:
            rows = conn.execute(select(admins).where(admins.c.deleted_at.is_(None))
                                .order_by(admins.c.created_at, admins.c.id))
            return [_admin(row) for row in rows]

    def authority_policy(self) -> dict[str, Any] | None:
        """The authority policy set over the admin API (None: ca.json's applies)."""
        with self._db.transaction() as conn:
            return _authority_policy(conn)

    def changes(self, *, after_id: int = 0, limit: int = 1000) -> list[Change]:
        """Recorded changes with an id above ``after_id``, in order."""
        with self._db.transaction() as conn:
            rows = conn.execute(select(admin_changes).where(admin_changes.c.id > after_id)
                                .order_by(admin_changes.c.id).limit(limit))
            return [Change(row.id, row.changed_at, row.actor, row.action, row.kind, row.object_id, row.revision,
                           row.before, row.after) for row in rows]

    # -- writes ----------------------------------------------------------------------

    def import_provisioners(self, records: Iterable[ProvisionerRecord], now: datetime.datetime) -> bool:
        """Import ca.json's provisioners once: only into a database that never had any
        (as step-ca does on its first start with ``enableAdmin``). True if imported."""
        with self._db.transaction(immediate=True) as conn:
            revision = _bump(conn)
            if conn.execute(select(func.count()).select_from(provisioners)).scalar_one():
                return False
            for record in records:
                self._insert_provisioner(conn, record, now, CA_JSON, revision)
        return True

    def create_provisioner(self, record: ProvisionerRecord, actor: str, now: datetime.datetime) -> None:
        with self._db.transaction(immediate=True) as conn:
            revision = _bump(conn)
            self._insert_provisioner(conn, record, now, actor, revision)

    def update_provisioner(self, record: ProvisionerRecord, actor: str, now: datetime.datetime) -> None:
        """Replace a live provisioner's name and details (its id and type stay)."""
        with self._db.transaction(immediate=True) as conn:
            revision = _bump(conn)
            before = _live_provisioner(conn, record.id)
            if before.type != record.type:
                raise BadRequest(f"provisioner {record.id} is of type {before.type}, not {record.type}")
            if record.name != before.name:
                _name_free(conn, record.name)
            conn.execute(update(provisioners).where(provisioners.c.id == record.id)
                         .values(name=record.name, details=record.details))
            _record(conn, now, actor, "update", "provisioner", record.id, revision,
                    _provisioner_json(before), _provisioner_json(record))

    def delete_provisioner(self, provisioner_id: str, actor: str, now: datetime.datetime) -> None:
        """Delete a live provisioner and the admins it authenticates (as step-ca does)."""
        with self._db.transaction(immediate=True) as conn:
            revision = _bump(conn)
            before = _live_provisioner(conn, provisioner_id)
            bound = conn.execute(select(admins).where(admins.c.provisioner_id == provisioner_id,
                                                      admins.c.deleted_at.is_(None))).all()
            for row in bound:
                self._soft_delete_admin(conn, _admin(row), actor, now, revision)
            conn.execute(update(provisioners).where(provisioners.c.id == provisioner_id).values(deleted_at=now))
            _record(conn, now, actor, "delete", "provisioner", provisioner_id, revision,
                    _provisioner_json(before), None)

    def create_admin(self, record: AdminRecord, actor: str, now: datetime.datetime) -> None:
        with self._db.transaction(immediate=True) as conn:
            revision = _bump(conn)
            _live_provisioner(conn, record.provisioner_id)
            if conn.execute(select(admins.c.id).where(
                    admins.c.provisioner_id == record.provisioner_id, admins.c.subject == record.subject,
                    admins.c.deleted_at.is_(None))).first():
                raise BadRequest(f"admin {record.subject} already exists for this provisioner")
            conn.execute(insert(admins), {"id": record.id, "provisioner_id": record.provisioner_id,
                                          "subject": record.subject, "type": record.type, "details": {},
                                          "created_at": now})
            _record(conn, now, actor, "create", "admin", record.id, revision, None, _admin_json(record))

    def update_admin(self, admin_id: str, admin_type: str, actor: str, now: datetime.datetime) -> AdminRecord:
        """Change an admin's type; the admin as it is now."""
        with self._db.transaction(immediate=True) as conn:
            revision = _bump(conn)
            before = _live_admin(conn, admin_id)
            after = AdminRecord(before.id, before.provisioner_id, before.subject, admin_type, before.created_at)
            conn.execute(update(admins).where(admins.c.id == admin_id).values(type=admin_type))
            _record(conn, now, actor, "update", "admin", admin_id, revision, _admin_json(before), _admin_json(after))
        return after

    def set_authority_policy(self, policy: dict[str, Any] | None, actor: str, now: datetime.datetime) -> None:
        """Set (or with None, remove) the authority policy."""
        with self._db.transaction(immediate=True) as conn:
            revision = _bump(conn)
            before = _authority_policy(conn)
            conn.execute(delete(authority_policies).where(authority_policies.c.id == AUTHORITY_POLICY))
            if policy is not None:
                conn.execute(insert(authority_policies), {"id": AUTHORITY_POLICY, "policy": policy, "updated_at": now})
            action = "delete" if policy is None else "create" if before is None else "update"
            _record(conn, now, actor, action, "policy", AUTHORITY_POLICY, revision, before, policy)

    def record_change(self, actor: str, action: str, kind: str, object_id: str, now: datetime.datetime,
                      before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        """Record a change another store made (ACME EAB keys and their policies), after it."""
        with self._db.transaction(immediate=True) as conn:
            _record(conn, now, actor, action, kind, object_id, _bump(conn), before, after)

    def delete_admin(self, admin_id: str, actor: str, now: datetime.datetime) -> None:
        with self._db.transaction(immediate=True) as conn:
            revision = _bump(conn)
            self._soft_delete_admin(conn, _live_admin(conn, admin_id), actor, now, revision)

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _insert_provisioner(conn: Connection, record: ProvisionerRecord, now: datetime.datetime, actor: str,
                            revision: int) -> None:
        _name_free(conn, record.name)
        if conn.execute(select(provisioners.c.id).where(provisioners.c.id == record.id)).first():
            raise BadRequest(f"provisioner id {record.id} is already taken")
        conn.execute(insert(provisioners), {"id": record.id, "name": record.name, "type": record.type,
                                            "details": record.details, "created_at": now})
        _record(conn, now, actor, "create", "provisioner", record.id, revision, None, _provisioner_json(record))

    @staticmethod
    def _soft_delete_admin(conn: Connection, record: AdminRecord, actor: str, now: datetime.datetime,
                           revision: int) -> None:
        conn.execute(update(admins).where(admins.c.id == record.id).values(deleted_at=now))
        _record(conn, now, actor, "delete", "admin", record.id, revision, _admin_json(record), None)


def _authority_policy(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(select(authority_policies.c.policy).where(authority_policies.c.id == AUTHORITY_POLICY)).first()
    return None if row is None else dict(row.policy)


def _bump(conn: Connection) -> int:
    """Increment the admin revision (taking its row lock); the new value."""
    conn.execute(update(revisions).where(revisions.c.name == ADMIN_REVISION).values(value=revisions.c.value + 1))
    return int(conn.execute(select(revisions.c.value).where(revisions.c.name == ADMIN_REVISION)).scalar_one())


def _record(conn: Connection, now: datetime.datetime, actor: str, action: str, kind: str, object_id: str,
            revision: int, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    conn.execute(insert(admin_changes), {"changed_at": now, "actor": actor, "action": action, "kind": kind,
                                         "object_id": object_id, "revision": revision,
                                         "before": before, "after": after})


def _name_free(conn: Connection, name: str) -> None:
    if conn.execute(select(provisioners.c.id).where(provisioners.c.name == name,
                                                    provisioners.c.deleted_at.is_(None))).first():
        raise BadRequest(f"a provisioner named {name} already exists")


def _live_provisioner(conn: Connection, provisioner_id: str) -> ProvisionerRecord:
    row = conn.execute(select(provisioners).where(provisioners.c.id == provisioner_id,
                                                  provisioners.c.deleted_at.is_(None))).first()
    if row is None:
        raise NotFound(f"provisioner {provisioner_id} not found")
    return _provisioner(row)


def _live_admin(conn: Connection, admin_id: str) -> AdminRecord:
    row = conn.execute(select(admins).where(admins.c.id == admin_id, admins.c.deleted_at.is_(None))).first()
    if row is None:
        raise NotFound(f"admin {admin_id} not found")
    return _admin(row)


def _provisioner(row: Row[Any]) -> ProvisionerRecord:
    return ProvisionerRecord(row.id, row.name, row.type, dict(row.details), row.created_at)


def _admin(row: Row[Any]) -> AdminRecord:
    return AdminRecord(row.id, row.provisioner_id, row.subject, row.type, row.created_at)


@dataclass(frozen=True)
class AdminState:
    """The provisioners, admins and authority policy at one admin revision."""

    revision: int
    provisioners: tuple[ProvisionerRecord, ...]
    admins: tuple[AdminRecord, ...]
    authority_policy: dict[str, Any] | None = None


class AdminStateCache:
    """What one instance serves: the state at the admin revision it last read.

    At most every ``poll_interval`` seconds (of the injected monotonic clock) the
    revision is read (one primary-key lookup); when it moved, the state is reloaded.
    So another instance's change is served here within ``poll_interval`` plus one
    read. If the database is unreachable, the last good state keeps being served
    (one warning per outage) and the next poll tries again."""

    def __init__(self, store: AdminStore, clock: Callable[[], float], poll_interval: float = 5.0) -> None:
        self._store = store
        self._clock = clock
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._state = self._load()
        self._checked_at = clock()
        self._failing = False

    def _load(self) -> AdminState:
        revision = self._store.revision()
        return AdminState(revision, tuple(self._store.provisioners()), tuple(self._store.admins()),
                          self._store.authority_policy())

    def current(self) -> AdminState:
        """The state, re-read if the poll interval has passed and the revision moved."""
        with self._lock:
            now = self._clock()
            if now - self._checked_at < self._poll_interval:
                return self._state
            self._checked_at = now
            try:
                if self._store.revision() != self._state.revision:
                    self._state = self._load()
                if self._failing:
                    log.warning("admin state: the database is reachable again (revision %d)", self._state.revision)
                self._failing = False
            except Unavailable as err:
                if not self._failing:
                    log.warning("admin state: serving revision %d, the last read: %s", self._state.revision, err)
                self._failing = True
            return self._state

    def refresh(self) -> AdminState:
        """Re-read now (after this instance's own change)."""
        with self._lock:
            self._checked_at = float("-inf")
        return self.current()
