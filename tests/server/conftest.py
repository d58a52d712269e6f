"""Fixtures the server tests share with the API and database tests."""

from __future__ import annotations

from tests.api.conftest import authority
from tests.db.conftest import db_config, mysql_config, postgres_config, sqlite_config

__all__ = ["authority", "db_config", "mysql_config", "postgres_config", "sqlite_config"]
