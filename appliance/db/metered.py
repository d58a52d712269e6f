"""Database metrics: every SQL statement counted and timed, by engine, through
SQLAlchemy's cursor events (no store method needs to know)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event

from appliance import metrics

_STARTED = "_appliance_metrics_started"


def meter(engine: Engine) -> None:
    """Record ``appliance_db_queries`` and ``appliance_db_query_duration_seconds`` for ``engine``."""
    name = engine.dialect.name
    # The labelled series, looked up once (every statement of every request records them).
    duration, succeeded = metrics.db_query_duration.labels(name), metrics.db_queries.labels(name, "ok")

    # A statement without an execution context (the dialect's own, and ``appliance.db.prepared``'s,
    # run through ``Connection._cursor_execute``) is timed on its connection's ``info``.
    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if context is not None:
            setattr(context, _STARTED, time.perf_counter())
        else:
            conn.info[_STARTED] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        started = getattr(context, _STARTED, None) if context is not None else conn.info.pop(_STARTED, None)
        if started is not None:
            duration.observe(time.perf_counter() - started)
        succeeded.inc()

    @event.listens_for(engine, "handle_error")
    def _error(context: Any) -> None:
        if context.execution_context is not None:
            started = getattr(context.execution_context, _STARTED, None)
        else:
            started = context.connection.info.pop(_STARTED, None) if context.connection is not None else None
        if started is not None:
            duration.observe(time.perf_counter() - started)
        metrics.db_queries.labels(name, "error").inc()
