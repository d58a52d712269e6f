"""The audit log's tables (created by migration 12; ``appliance.audit`` reads and
writes them): the hash-chained records, the chain's head (one row, locked by every
append, so all processes and instances sharing the database extend one chain) and
the signed checkpoints."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Integer, String, Table, Text, insert, select

from appliance.db.schema import metadata

HASH = String(64)  # SHA-256, hex
#: The previous hash of the first record.
GENESIS = "0" * 64
HEAD_ID = 1

audit_records = Table(
    "audit_records",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),  # RFC 3339, as hashed
    Column("event", String(64), nullable=False),
    Column("data", Text, nullable=False),  # canonical JSON, as hashed
    Column("prev_hash", HASH, nullable=False),
    Column("hash", HASH, nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", HASH, nullable=False),
    Column("checkpoint_at", String(40), nullable=False),  # "" before the first checkpoint
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", HASH, nullable=False),
    Column("at", String(40), nullable=False),
    Column("key_id", HASH, nullable=False),  # SHA-256 of the signing key's SubjectPublicKeyInfo
    Column("signature", Text, nullable=False),  # base64
)

TABLES = (audit_records, audit_head, audit_checkpoints)


def create_audit_tables(conn: Connection) -> None:
    """Migration 12: the tables, and the head of an empty chain."""
    metadata.create_all(conn, tables=list(TABLES), checkfirst=conn.dialect.name == "mysql")  # MySQL: re-runnable
    if conn.execute(select(audit_head.c.id).where(audit_head.c.id == HEAD_ID)).first() is None:
        conn.execute(insert(audit_head).values(id=HEAD_ID, seq=0, hash=GENESIS, checkpoint_at=""))
