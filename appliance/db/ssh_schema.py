"""The SSH CA's tables, created by migration step 8 (``appliance.db.ssh_store`` uses them)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from appliance.db.schema import NAME, metadata
from appliance.db.types import UTCDateTime

SSH_SERIAL = String(20)  # a uint64 in decimal

ssh_certificates = Table(
    "ssh_certificates",
    metadata,
    Column("serial", SSH_SERIAL, primary_key=True),
    Column("cert_type", String(8), nullable=False),
    Column("key_id", Text, nullable=False),
    Column("principals", JSON, nullable=False),
    Column("valid_after", UTCDateTime, nullable=False),
    Column("valid_before", UTCDateTime, nullable=False),
    Column("provisioner", NAME, nullable=False),
    Column("key_sha256", String(64), nullable=False),
    Column("certificate", Text, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Index("ix_ssh_certificates_valid_before", "valid_before"),
    Index("ix_ssh_certificates_key_sha256", "key_sha256"),
)

ssh_revocations = Table(
    "ssh_revocations",
    metadata,
    Column("serial", SSH_SERIAL, primary_key=True),
    Column("ca_key", Text, nullable=False),
    Column("reason_code", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=False),
    Column("provisioner", NAME, nullable=False),
)

ssh_revoked_keys = Table(
    "ssh_revoked_keys",
    metadata,
    Column("key_sha256", String(64), primary_key=True),
    Column("key", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=False),
    Column("provisioner", NAME, nullable=False),
)

TABLES = (ssh_certificates, ssh_revocations, ssh_revoked_keys)
