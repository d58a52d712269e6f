"""Column types shared by the schema."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

UTC = datetime.timezone.utc


class UTCDateTime(TypeDecorator[datetime.datetime]):
    """A timezone-aware datetime, stored in UTC on every engine.

    PostgreSQL keeps it as ``timestamptz``; engines without time zones (SQLite,
    MySQL) store the naive UTC value, which also keeps text comparisons ordered;
    MySQL's with microseconds (``DATETIME(6)``), as the others keep them.
    Naive datetimes are refused: their meaning depends on the host's clock.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(self.impl)

    def process_bind_param(self, value: datetime.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the database: use an aware one")
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime.datetime | None, dialect: Dialect) -> datetime.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
