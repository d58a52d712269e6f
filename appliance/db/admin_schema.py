"""The change record of remote management (created by migration step 11) and the
authority's policy set over the admin API (step 16), on the shared schema metadata, and
the revision other instances poll to see changes."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Table

from appliance.db.schema import NAME, metadata
from appliance.db.types import UTCDateTime

ADMIN_REVISION = "admin"

admin_changes = Table(
    "admin_changes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("actor", NAME, nullable=False),
    Column("action", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Index("ix_admin_changes_changed_at", "changed_at"),
)


#: The authority-level name policy set over the admin API (one row, id ``authority``); it
#: replaces ca.json's ``authority.policy`` while it exists (step-ca's ``authority_policies``).
authority_policies = Table(
    "authority_policies",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("policy", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
