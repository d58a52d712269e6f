"""Storage: the ``Database`` protocol and its SQL implementation (SQLite, PostgreSQL)."""

from __future__ import annotations

from appliance.db.interfaces import CertificateRecord, Database, RevocationRecord
from appliance.db.sql import SQLDatabase, open_database

__all__ = ["CertificateRecord", "Database", "RevocationRecord", "SQLDatabase", "open_database"]
