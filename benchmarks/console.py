"""The console's list pages with many certificates: p50/p99 of whole page requests.

    .venv/bin/python benchmarks/console.py                           # 1,000,000 rows, SQLite, PostgreSQL, MariaDB
    .venv/bin/python benchmarks/console.py --rows 100000 --db sqlite --repeat 20

For each database, a fresh schema (``open_database``: every migration) is filled in
SQL (``INSERT ... SELECT`` over a generated series: not through the API) with
``--rows`` certificates (expiry spread over two years around now, 5 provisioners,
a 700-byte PEM each) and one revocation per 100 certificates. Then each page is
requested ``--repeat`` times through the console app in process (routing, query,
Jinja2 rendering of 50 rows; no TLS), and p50/p99 are reported. Target: < 200 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pymysql  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from appliance.config.console import ConsoleOptions  # noqa: E402
from appliance.console import ConsoleSettings, ReadModel, console_app  # noqa: E402
from appliance.console.read_model import CertificateFilter, Cursor  # noqa: E402
from appliance.db import open_database  # noqa: E402
from appliance.db.sql import SQLDatabase  # noqa: E402
from benchmarks.issue import postgres_database  # noqa: E402

MYSQL_ADMIN_DSN = os.environ.get("APPLIANCE_BENCH_MYSQL_DSN", "mysql://root@127.0.0.1:3306/test")
NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)
PEM = "-----BEGIN CERTIFICATE-----\n" + ("A" * 64 + "\n") * 10 + "-----END CERTIFICATE-----\n"
FIRST_SERIAL = 10**17

# Row i: serial FIRST_SERIAL + i, host-i.example.test, provisioner prov-(i % 5), not_after NOW - 1y + i * (2y / rows).
_SQLITE_FILL = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :rows)
INSERT INTO certificates (serial, subject, sans, not_before, not_after, provisioner, pem, issued_at)
SELECT CAST(:first + i AS TEXT), 'CN=host-' || i || '.example.test', '["host-' || i || '.example.test"]',
       datetime(:start, '+' || (i * :step) || ' seconds', '-90 days') || '.000000',
       datetime(:start, '+' || (i * :step) || ' seconds') || '.000000',
       'prov-' || (i % 5), :pem, datetime(:start, '+' || (i * :step) || ' seconds', '-90 days') || '.000000'
FROM n
"""
_POSTGRES_FILL = """
INSERT INTO certificates (serial, subject, sans, not_before, not_after, provisioner, pem, issued_at)
SELECT (CAST(:first AS bigint) + i)::text, 'CN=host-' || i || '.example.test',
       json_build_array('host-' || i || '.example.test'),
       CAST(:start AS timestamptz) + (i * :step) * interval '1 second' - interval '90 days',
       CAST(:start AS timestamptz) + (i * :step) * interval '1 second',
       'prov-' || (i % 5), :pem, CAST(:start AS timestamptz) + (i * :step) * interval '1 second' - interval '90 days'
FROM generate_series(0, :rows - 1) AS i
"""
# MariaDB's SEQUENCE engine generates the series (seq_0_to_N).
_MYSQL_FILL = """
INSERT INTO certificates (serial, subject, sans, not_before, not_after, provisioner, pem, issued_at)
SELECT CAST(:first + seq AS CHAR), CONCAT('CN=host-', seq, '.example.test'),
       JSON_ARRAY(CONCAT('host-', seq, '.example.test')),
       CAST(:start AS DATETIME(6)) + INTERVAL (seq * :step) SECOND - INTERVAL 90 DAY,
       CAST(:start AS DATETIME(6)) + INTERVAL (seq * :step) SECOND,
       CONCAT('prov-', seq % 5), :pem, CAST(:start AS DATETIME(6)) + INTERVAL (seq * :step) SECOND - INTERVAL 90 DAY
FROM seq_0_to_{last}
"""
_FILLS = {"sqlite": _SQLITE_FILL, "postgresql": _POSTGRES_FILL, "mysql": _MYSQL_FILL}
# What record_certificate writes for each: its (common) name, lower case, for the search by name.
_NAMES = "INSERT INTO certificate_names (name, serial) SELECT LOWER(SUBSTR(subject, 4)), serial FROM certificates"
_REVOKE = """
INSERT INTO revocations (serial, reason_code, reason, revoked_at, provisioner, passive, mtls, not_after)
SELECT serial, 1, 'bench', issued_at, provisioner, {true}, {false}, not_after FROM certificates
WHERE SUBSTR(serial, LENGTH(serial) - 1) = '07'
"""


def fill(database: SQLDatabase, rows: int) -> float:
    start = time.perf_counter()
    postgres = database.dialect == "postgresql"
    step = 2 * 365 * 86400 // rows or 1
    begin = NOW - datetime.timedelta(days=365)
    params: dict[str, Any] = {"rows": rows, "first": FIRST_SERIAL, "step": step, "pem": PEM,
                              "start": begin.isoformat() if postgres else begin.strftime("%Y-%m-%d %H:%M:%S")}
    with database.engine.begin() as conn:
        conn.execute(text(_FILLS[database.dialect].format(last=rows - 1)), params)
        conn.execute(text(_NAMES))
        conn.execute(text(_REVOKE.format(true="true" if postgres else "1", false="false" if postgres else "0")))
    # What autovacuum does after a bulk insert on PostgreSQL (statistics and the visibility map, which
    # lets counts on the not_after index skip the table), ANALYZE on SQLite, ANALYZE TABLE on MariaDB.
    analyze = {"postgresql": ["VACUUM ANALYZE"], "sqlite": ["ANALYZE"],
               "mysql": ["ANALYZE TABLE certificates, certificate_names, revocations"]}[database.dialect]
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement in analyze:
            conn.execute(text(statement))
    return time.perf_counter() - start


def pages(model: ReadModel, rows: int) -> list[tuple[str, str]]:
    """(label, path) of the pages timed; the deep page starts at the middle of the list."""
    middle = model.certificates(CertificateFilter(), NOW, Cursor(NOW, "~"), size=1).rows[0]
    deep = Cursor(middle.not_after, middle.serial).encode()
    one = FIRST_SERIAL + rows // 3
    return [
        ("overview (expiry timeline)", "/console/"),
        ("list, first page", "/console/certificates"),
        ("list, page in the middle", f"/console/certificates?after={deep}"),
        ("status=active", "/console/certificates?status=active"),
        ("status=expired", "/console/certificates?status=expired"),
        ("status=revoked", "/console/certificates?status=revoked"),
        ("provisioner=prov-3", "/console/certificates?provisioner=prov-3"),
        ("search serial (decimal)", f"/console/certificates?q={one}"),
        ("search name, common (host-1)", "/console/certificates?q=host-1"),
        ("search name, common, 2nd page",
         f"/console/certificates?q=host-1&after={FIRST_SERIAL + 100041}.host-100041.example.test"),
        ("search common, status=active (0)", "/console/certificates?q=host-1&status=active"),
        ("search name, one match", f"/console/certificates?q=host-{rows // 3}.example"),
    ]


def measure(http: TestClient, path: str, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = http.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


@contextlib.contextmanager
def mariadb_database() -> Iterator[dict[str, str]]:
    """A fresh MariaDB database for one run (dropped afterwards); its ``db`` section (step-ca's DSN form)."""
    url = make_url(MYSQL_ADMIN_DSN)
    name = f"appliance_bench_{secrets.token_hex(4)}"

    def admin() -> pymysql.connections.Connection[Any]:
        return pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username or "root",
                               password=url.password or "", autocommit=True)

    with admin() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    credentials = (url.username or "root") + (f":{url.password}" if url.password else "")
    try:
        yield {"type": "mysql", "dataSource": f"{credentials}@tcp({url.host or '127.0.0.1'}:{url.port or 3306})/",
               "database": name}
    finally:
        with admin() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@contextlib.contextmanager
def database_section(kind: str, workdir: Path) -> Iterator[dict[str, str]]:
    if kind == "postgresql":
        with postgres_database() as section:
            yield section
    elif kind == "mysql":
        with mariadb_database() as section:
            yield section
    else:
        yield {"type": "sqlite", "dataSource": str(workdir / "console.sqlite")}


def run(kind: str, rows: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, database_section(kind, Path(tmp)) as section:
        database = open_database(section)
        try:
            seconds = fill(database, rows)
            print(f"\n{kind}: {rows:,} certificates ({rows // 100:,} revoked) generated in {seconds:.0f} s")
            model = ReadModel(database.engine)
            settings = ConsoleSettings(ConsoleOptions(enabled=True, public_view=True), model, clock=lambda: NOW)
            http = TestClient(console_app(None, settings), base_url="https://console.test")  # type: ignore[arg-type]
            http.root_path = ""
            print(f"{'page':32} {'p50 ms':>8} {'p99 ms':>8}")
            for label, path in pages(model, rows):
                p50, p99 = measure(http, path.removeprefix("/console"), repeat)
                print(f"{label:32} {p50:8.1f} {p99:8.1f}")
        finally:
            database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite,postgresql,mysql")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    for kind in args.db.split(","):
        run(kind, args.rows, args.repeat)


if __name__ == "__main__":
    main()
