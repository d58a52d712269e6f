"""Database metrics: every SQL statement counted and timed, by engine, through
SQLAlchemy's cursor events (no store method needs to know)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event

from appliance import metrics

_STARTED = "appliance_metrics_started"


def meter(engine: Engine) -> None:
    """Record ``appliance_db_queries`` and ``appliance_db_query_duration_seconds`` for ``engine``."""
    name = engine.dialect.name

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault(_STARTED, []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        _done(conn, name, "ok")

    @event.listens_for(engine, "handle_error")
    def _error(context: Any) -> None:
        if context.connection is not None:
            _done(context.connection, name, "error")


def _done(conn: Any, engine: str, outcome: str) -> None:
    started = conn.info.get(_STARTED)
    if started:
        metrics.db_query_duration.labels(engine).observe(time.perf_counter() - started.pop())
    metrics.db_queries.labels(engine, outcome).inc()
