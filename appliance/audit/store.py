"""The audit log in the CA's database: append (one chain for every process and
instance: each append locks the chain's head row, ``BEGIN IMMEDIATE`` on SQLite,
``SELECT ... FOR UPDATE`` on PostgreSQL and MySQL), signed checkpoints, and the read
side a console or ``appliance audit`` uses (pages of records, the chain's status)."""

from __future__ import annotations

import datetime
import logging
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Row

from appliance import metrics
from appliance.audit.chain import (AuditRecord, Checkpoint, Verification, canonical, record_hash, sign_checkpoint,
                                   verify_chain)
from appliance.db.audit_schema import HEAD_ID, audit_checkpoints, audit_head, audit_records
from appliance.db.prepared import Prepared
from appliance.pki.clock import Clock, utc_now

log = logging.getLogger(__name__)

Transaction = Callable[..., AbstractContextManager[Connection]]
_EVENT = re.compile(r"[a-z0-9_.-]{1,64}")
#: The statements of an append, compiled once per dialect and run on the DB-API cursor.
_LOCK_HEAD = Prepared(select(audit_head.c.seq, audit_head.c.hash, audit_head.c.checkpoint_at)
                      .where(audit_head.c.id == HEAD_ID).with_for_update())
_INSERT_RECORD = Prepared(insert(audit_records), ("seq", "at", "event", "data", "prev_hash", "hash"))
_MOVE_HEAD = Prepared(update(audit_head).where(audit_head.c.id == HEAD_ID), ("seq", "hash", "checkpoint_at"))
#: Field names that could carry a secret: dropped from every record, whoever passes them.
_SECRET_NAME = re.compile(r"token|password|passphrase|secret|pin|private|credential|^ott$|^csr$", re.IGNORECASE)
PAGE_LIMIT = 1000
BATCH = 1000


@dataclass(frozen=True)
class CheckpointPolicy:
    """Sign a checkpoint with ``signer`` every ``every`` records or, at the next record,
    once ``interval`` has passed since the last one."""

    signer: PrivateKeyTypes
    every: int
    interval: datetime.timedelta


@dataclass(frozen=True)
class AuditPage:
    """Records after a cursor, oldest first, and the cursor of the next page (None at the end)."""

    records: list[AuditRecord]
    next_after: int | None


def scrub(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the members whose name suggests a secret (recursively)."""
    return {key: scrub(value) if isinstance(value, dict) else value
            for key, value in data.items() if not _SECRET_NAME.search(key)}


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds")


def _record(row: Row[Any]) -> AuditRecord:
    return AuditRecord(seq=row.seq, at=row.at, event=row.event, data=row.data, prev_hash=row.prev_hash, hash=row.hash)


def _checkpoint(row: Row[Any]) -> Checkpoint:
    return Checkpoint(seq=row.seq, hash=row.hash, at=row.at, key_id=row.key_id, signature=row.signature)


class AuditLog:
    """The hash-chained audit log of one database (implements ``AuditSink``)."""

    def __init__(self, transaction: Transaction, *, checkpoints: CheckpointPolicy | None = None,
                 now: Clock = utc_now) -> None:
        self._transaction = transaction
        self._policy = checkpoints
        self._now = now

    # -- writing ---------------------------------------------------------------------

    def record(self, event: str, data: dict[str, Any]) -> None:
        """Append an event that changed nothing in the database (a refusal, a reload): a
        failure is logged and counted (``appliance_audit_records{outcome="lost"}``), never
        raised, so that it does not hide the outcome it records."""
        try:
            self.append(event, data)
        except Exception as exc:
            metrics.audit_records.labels("lost").inc()
            log.error("audit record %s lost: %s", event, getattr(exc, "message", type(exc).__name__))

    def append(self, event: str, data: dict[str, Any]) -> AuditRecord:
        """Append one record to the chain (and a checkpoint when one is due), in a transaction of its own."""
        with self._transaction(immediate=True) as conn:
            return self.append_in(conn, event, data)

    def append_in(self, conn: Connection, event: str, data: dict[str, Any]) -> AuditRecord:
        """Append within the caller's write transaction (``BEGIN IMMEDIATE`` on SQLite): the
        record commits with the change it tells of, or neither does."""
        if not _EVENT.fullmatch(event):
            raise ValueError(f"invalid audit event name {event!r}")
        text = canonical(scrub(data))
        head = _LOCK_HEAD.first(conn)
        if head is None:
            raise RuntimeError("the audit chain has no head row (migrations not applied)")
        last_seq, last_hash, checkpoint_at = head
        now = self._now()
        seq, at = last_seq + 1, _rfc3339(now)
        record = AuditRecord(seq, at, event, text, last_hash, record_hash(seq, at, event, text, last_hash))
        _INSERT_RECORD.execute(conn, {"seq": seq, "at": at, "event": event, "data": text,
                                      "prev_hash": record.prev_hash, "hash": record.hash})
        if self._checkpoint_due(seq, checkpoint_at, now):
            assert self._policy is not None
            signed = sign_checkpoint(self._policy.signer, seq, record.hash, at)
            conn.execute(insert(audit_checkpoints).values(**signed.to_json()))
            checkpoint_at = at
            metrics.audit_checkpoints.inc()
        _MOVE_HEAD.execute(conn, {"seq": seq, "hash": record.hash, "checkpoint_at": checkpoint_at})
        metrics.audit_records.labels("ok").inc()
        return record

    def _checkpoint_due(self, seq: int, last: str, now: datetime.datetime) -> bool:
        policy = self._policy
        if policy is None:
            return False
        if seq % policy.every == 0 or not last:
            return True
        return now - datetime.datetime.fromisoformat(last) >= policy.interval

    # -- reading ---------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """The chain's last record number and hash ((0, GENESIS) when empty)."""
        with self._transaction() as conn:
            row = conn.execute(select(audit_head).where(audit_head.c.id == HEAD_ID)).one()
        return row.seq, row.hash

    def page(self, after: int = 0, limit: int = 100, *, event_prefix: str = "") -> AuditPage:
        """Up to ``limit`` records with ``seq > after`` (optionally only events starting with ``event_prefix``)."""
        limit = max(1, min(limit, PAGE_LIMIT))
        query = select(audit_records).where(audit_records.c.seq > after)
        if event_prefix:
            query = query.where(audit_records.c.event.startswith(event_prefix, autoescape=True))
        with self._transaction() as conn:
            rows = conn.execute(query.order_by(audit_records.c.seq).limit(limit + 1)).all()
        records = [_record(row) for row in rows[:limit]]
        return AuditPage(records, records[-1].seq if len(rows) > limit else None)

    def records(self, start: int = 1) -> Iterator[AuditRecord]:
        """Every record from ``start``, oldest first, read in batches."""
        after = start - 1
        while True:
            page = self.page(after, BATCH)
            yield from page.records
            if page.next_after is None:
                return
            after = page.next_after

    def checkpoints(self) -> list[Checkpoint]:
        with self._transaction() as conn:
            rows = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq)).all()
        return [_checkpoint(row) for row in rows]

    def last_checkpoint(self) -> Checkpoint | None:
        with self._transaction() as conn:
            row = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1)).first()
        return None if row is None else _checkpoint(row)

    def verify(self, *, start: int = 1, public_key: PublicKeyTypes | None = None) -> Verification:
        """The chain's status: every record from ``start`` and every checkpoint checked."""
        head = self.head()
        return verify_chain(self.records(start), self.checkpoints(), head, start=start, public_key=public_key)
