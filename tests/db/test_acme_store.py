"""The ACME store under concurrent writers: threads and processes sharing one database."""

from __future__ import annotations

import multiprocessing
import threading

from sqlalchemy import func, select

from appliance.db import open_database
from appliance.db.acme_schema import acme_accounts, acme_orders
from tests.db import workers
from tests.db.conftest import DbConfigFactory

THREADS = 16
ORDERS = 15


def _counts(config: dict[str, object]) -> tuple[int, int]:
    database = open_database(config)
    try:
        with database.transaction() as conn:
            return (conn.scalar(select(func.count()).select_from(acme_accounts)) or 0,
                    conn.scalar(select(func.count()).select_from(acme_orders)) or 0)
    finally:
        database.close()


def test_concurrent_orders_in_one_process(db_config: DbConfigFactory) -> None:
    """Transactions that read before they write (create_order) must wait for the
    write lock, not fail with "database is locked" (SQLite, deferred BEGIN)."""
    config = db_config()
    errors = workers.acme_traffic(config, THREADS, ORDERS, threading.Barrier(1))
    assert errors == []
    assert _counts(config) == (THREADS, THREADS * ORDERS)


def test_concurrent_orders_in_two_processes(db_config: DbConfigFactory) -> None:
    config = db_config()
    open_database(config).close()  # migrated before the race
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Barrier(2)
    with ctx.Pool(2) as pool:
        errors = pool.starmap(workers.acme_traffic, [(config, THREADS // 2, ORDERS, start)] * 2)
    assert [e for batch in errors for e in batch] == []
    assert _counts(config) == (THREADS, THREADS * ORDERS)
