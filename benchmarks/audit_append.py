"""Audit log appends per second: one chain, appended by 1 and N threads (each append
locks the chain's head), on SQLite and on a fresh PostgreSQL database, without
checkpoints and with a softkms-style in-process key signing one every 100 records.

    .venv/bin/python benchmarks/audit_append.py                 # ~20 s
    .venv/bin/python benchmarks/audit_append.py --records 2000 --threads 8
"""

from __future__ import annotations

import argparse
import datetime
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.audit import AuditLog, CheckpointPolicy
from appliance.db import open_database

PG = "postgresql://postgres@127.0.0.1:5432/"


def _run(db_config: dict[str, Any], records: int, threads: int, checkpoints: bool) -> tuple[float, float, float]:
    database = open_database(db_config)
    policy = CheckpointPolicy(ec.generate_private_key(ec.SECP256R1()), 100, datetime.timedelta(hours=1)) \
        if checkpoints else None
    log = AuditLog(database.transaction, checkpoints=policy)
    latencies: list[float] = []
    lock = threading.Lock()

    def work(count: int) -> None:
        mine = []
        for index in range(count):
            began = time.perf_counter()
            log.append("sign.issued", {"serial": str(index), "subject": "CN=bench", "provisioner": "admin"})
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    began = time.perf_counter()
    workers = [threading.Thread(target=work, args=(records // threads,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    assert log.verify().ok
    database.close()
    latencies.sort()
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    print(f"{'engine':<11}{'checkpoints':<13}{'threads':>8}{'appends/s':>11}{'p50 ms':>9}{'p99 ms':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        name = f"appliance_bench_{secrets.token_hex(4)}"
        with psycopg.connect(PG + "test", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            for engine in ("sqlite", "postgresql"):
                for checkpoints in (False, True):
                    for threads in (1, args.threads):
                        config = ({"type": "sqlite", "dataSource": str(Path(tmp) / f"{secrets.token_hex(4)}.db")}
                                  if engine == "sqlite" else {"type": "postgresql", "dataSource": PG, "database": name})
                        rate, p50, p99 = _run(config, args.records, threads, checkpoints)
                        print(f"{engine:<11}{'every 100' if checkpoints else 'none':<13}{threads:>8}{rate:>11.0f}"
                              f"{p50:>9.2f}{p99:>9.2f}")
                        if engine == "postgresql":  # a fresh chain for the next row
                            with psycopg.connect(PG + "test", autocommit=True) as admin:
                                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                                admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            with psycopg.connect(PG + "test", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
