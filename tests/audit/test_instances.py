"""Several instances (each with its own engine and pool) appending to one database at
once keep one consistent chain: SQLite and the real PostgreSQL server."""

from __future__ import annotations

import threading

from appliance.audit import AuditLog
from appliance.db import open_database
from tests.db.conftest import DbConfigFactory, db_config, mysql_config, postgres_config, sqlite_config  # noqa: F401


def test_concurrent_instances_share_one_chain(db_config: DbConfigFactory) -> None:
    config = db_config()
    instances = [open_database(config) for _ in range(2)]
    try:
        logs = [AuditLog(database.transaction) for database in instances]

        def append(log: AuditLog, name: str) -> None:
            for index in range(15):
                log.append("sign.issued", {"serial": f"{name}-{index}"})

        threads = [threading.Thread(target=append, args=(log, f"{n}-{t}")) for n, log in enumerate(logs)
                   for t in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        found = logs[0].verify()
        assert found.ok, found.problems
        assert found.records == found.last_seq == 90
        assert logs[1].head() == logs[0].head()
    finally:
        for database in instances:
            database.close()
