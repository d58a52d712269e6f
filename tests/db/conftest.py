"""Every behavioural test runs against SQLite, the real PostgreSQL server
(127.0.0.1:5432) and the real MariaDB server (127.0.0.1:3306), each test in a
database of its own."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import make_url

from appliance.db import SQLDatabase, open_database

PG_ADMIN_DSN = os.environ.get("APPLIANCE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_DSN = os.environ.get("APPLIANCE_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306/test")

DbConfigFactory = Callable[[], dict[str, Any]]


def _pg_admin() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_DSN} ({err}); start it with "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")


@pytest.fixture
def postgres_config() -> Iterator[DbConfigFactory]:
    """Makes fresh PostgreSQL databases (dropped after the test); their ``db`` sections."""
    created: list[str] = []

    def make() -> dict[str, Any]:
        name = f"appliance_test_{secrets.token_hex(6)}"
        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return {"type": "postgresql", "dataSource": PG_ADMIN_DSN.rsplit("/", 1)[0] + "/", "database": name}

    yield make
    with _pg_admin() as admin:
        for name in created:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def mysql_admin() -> pymysql.connections.Connection[Any]:
    url = make_url(MYSQL_ADMIN_DSN)
    try:
        return pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username or "root",
                               password=url.password or "", autocommit=True, connect_timeout=5)
    except pymysql.err.OperationalError as err:
        pytest.fail(f"MariaDB is not reachable at {MYSQL_ADMIN_DSN} ({err}); start it with scripts/test-services.sh")


@pytest.fixture
def mysql_config() -> Iterator[DbConfigFactory]:
    """Makes fresh MariaDB databases (dropped after the test); their ``db`` sections, in step-ca's
    Go DSN form (``user:password@tcp(host:port)/`` and ``database``)."""
    created: list[str] = []
    url = make_url(MYSQL_ADMIN_DSN)
    credentials = (url.username or "root") + (f":{url.password}" if url.password else "")
    source = f"{credentials}@tcp({url.host or '127.0.0.1'}:{url.port or 3306})/"

    def make() -> dict[str, Any]:
        name = f"appliance_test_{secrets.token_hex(6)}"
        with mysql_admin() as admin, admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        created.append(name)
        return {"type": "mysql", "dataSource": source, "database": name}

    yield make
    with mysql_admin() as admin, admin.cursor() as cursor:
        for name in created:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def sqlite_config(tmp_path: Path) -> DbConfigFactory:
    """Makes fresh SQLite files; their ``db`` sections."""
    counter = iter(range(1_000_000))
    return lambda: {"type": "sqlite", "dataSource": str(tmp_path / f"db{next(counter)}.sqlite")}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres),
                        pytest.param("mysql", marks=pytest.mark.mysql)])
def db_config(request: pytest.FixtureRequest) -> DbConfigFactory:
    """Fresh databases of each engine in turn."""
    factory: DbConfigFactory = request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_config")
    return factory


@pytest.fixture
def db(db_config: DbConfigFactory) -> Iterator[SQLDatabase]:
    database = open_database(db_config())
    yield database
    database.close()
