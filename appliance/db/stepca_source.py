"""step-ca's datastore on MySQL or PostgreSQL, read-only: smallstep/nosql keeps each
bucket as a table of ``(nkey, nvalue)`` byte strings (``VARBINARY``/``BLOB`` on MySQL,
``BYTEA`` on PostgreSQL)."""

from __future__ import annotations

import re
from typing import Iterator

from sqlalchemy import Engine, column, create_engine, exc, inspect, select, table
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from appliance.db.engine import database_url
from appliance.errors import BadRequest, Unavailable

#: A libpq ``key=value`` connection string (Go's MySQL DSN starts with a user, a protocol or a slash).
_LIBPQ_KEYWORDS = re.compile(r"^\s*[a-z_]+\s*=")
_BATCH = 1000


def source_url(dsn: str, database: str | None = None) -> URL:
    """The URL of a step-ca ``dataSource``: ``postgresql://...`` (or a libpq ``key=value`` DSN
    with ``dbname``), ``mysql://...`` or Go's ``user:password@tcp(host:port)/dbname``;
    ``database`` as step-ca's ``db.database`` (it overrides the DSN's)."""
    postgres = dsn.startswith(("postgresql://", "postgres://")) or _LIBPQ_KEYWORDS.match(dsn) is not None
    return database_url({"type": "postgresql" if postgres else "mysql", "dataSource": dsn, "database": database})


class StepCaSource:
    """The buckets of one step-ca database."""

    def __init__(self, url: URL) -> None:
        if url.database in (None, ""):
            raise BadRequest("the step-ca DSN names no database (add it to the DSN or give --database)")
        self._engine: Engine = create_engine(url, poolclass=NullPool, hide_parameters=True,
                                             connect_args={"connect_timeout": 10})
        self.description = url.set(query={}).render_as_string(hide_password=True)
        try:
            self._tables = set(inspect(self._engine).get_table_names())
        except exc.OperationalError as err:
            self._engine.dispose()
            first = (str(err.orig).strip().splitlines() or ["unreachable"])[0]
            raise Unavailable(f"step-ca database {self.description}: {first}") from None

    def entries(self, bucket: str) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, value)`` of a bucket, ordered by key, streamed from a server-side cursor (nothing if
        step-ca never created it)."""
        if bucket not in self._tables:
            return
        nosql = table(bucket, column("nkey"), column("nvalue"))
        with self._engine.connect() as conn:
            rows = conn.execution_options(yield_per=_BATCH).execute(
                select(nosql.c.nkey, nosql.c.nvalue).order_by(nosql.c.nkey))
            for key, value in rows:
                yield _bytes(key), _bytes(value)

    def close(self) -> None:
        self._engine.dispose()


def _bytes(value: bytes | memoryview | str | None) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    return bytes(value)
