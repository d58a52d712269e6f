"""Statements of the issuance transaction, compiled once per dialect and run on the DB-API
cursor of a SQLAlchemy connection, inside that connection's transaction.

SQLAlchemy's ``Connection.execute`` builds an execution context per statement (parameter
processing, result metadata, events): ~60 % of the database share of an issuance's CPU
for six short statements. A ``Prepared`` statement keeps what is the same every time (the
SQL text of the dialect, the bind parameters' order and their types' bind processors) and
does per call only what SQLAlchemy's own path does to the values: the same SQL and the
same processed parameters reach the driver. Errors come back as SQLAlchemy's wrappers
(``IntegrityError``, ``OperationalError``, ...), a lost connection is invalidated, and
SQLAlchemy's cursor events fire for each (``appliance.db.metered`` counts and times it).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable


class _Compiled:
    """One dialect's SQL text, parameter order and bind processors."""

    __slots__ = ("sql", "names", "positional", "processors", "fixed")

    def __init__(self, statement: Executable, dialect: Dialect, keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
        self.sql: str = compiled.string
        self.positional: bool = compiled.positional
        #: the parameter names, in the order a positional SQL text takes them
        self.names: tuple[str, ...] = tuple(compiled.positiontup if compiled.positional
                                            else dict.fromkeys(compiled.bind_names.values()))
        processors = compiled._bind_processors  # what Connection.execute applies to each value
        self.processors: dict[str, Any] = {name: processors[name] for name in self.names if name in processors}
        #: values that are part of the statement (a constant in its WHERE clause)
        self.fixed: dict[str, Any] = {name: bind.value for bind, name in compiled.bind_names.items()
                                      if not bind.required}

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        fixed, processors = self.fixed, self.processors
        merged = {name: values[name] if name in values else fixed[name] for name in self.names}
        for name, process in processors.items():
            merged[name] = process(merged[name])
        if self.positional:
            return tuple(merged[name] for name in self.names)
        return merged


class Prepared:
    """A Core statement whose parameters are always ``keys`` (column keys for an INSERT or
    the SET of an UPDATE, bind parameter names otherwise)."""

    def __init__(self, statement: Executable, keys: Iterable[str] = ()) -> None:
        self._statement = statement
        self._keys = tuple(keys)
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled(self._statement, dialect, self._keys)
        return compiled

    def execute(self, conn: Connection, values: dict[str, Any] | None = None) -> Any:
        """Run with one set of values; the DB-API cursor (to fetch from, or for its ``rowcount``)."""
        compiled = self._for(conn.dialect)
        return run(conn, compiled.sql, compiled.parameters(values or {}))

    def execute_each(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Run once per row (a few: the names of one certificate)."""
        compiled = self._for(conn.dialect)
        for row in rows:
            run(conn, compiled.sql, compiled.parameters(row))

    def first(self, conn: Connection, values: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
        """The first row (a tuple in the statement's column order), or None."""
        return self.execute(conn, values).fetchone()


def run(conn: Connection, sql: str, parameters: Any = ()) -> Any:
    """``sql`` with ``parameters`` (in the driver's paramstyle) on ``conn``'s DB-API cursor, as
    SQLAlchemy runs a dialect's own statements (``Connection._cursor_execute``): the cursor events
    fire (metrics, listeners), a driver error is raised as SQLAlchemy's wrapper and a lost
    connection is invalidated; no execution context is built."""
    cursor = conn.connection.cursor()
    conn._cursor_execute(cursor, sql, parameters)
    return cursor
