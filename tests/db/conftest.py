"""Every behavioural test runs against SQLite and against the real PostgreSQL
server (127.0.0.1:5432), each test in a database of its own."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg
import pytest

from appliance.db import SQLDatabase, open_database

PG_ADMIN_DSN = os.environ.get("APPLIANCE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")

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


@pytest.fixture
def sqlite_config(tmp_path: Path) -> DbConfigFactory:
    """Makes fresh SQLite files; their ``db`` sections."""
    counter = iter(range(1_000_000))
    return lambda: {"type": "sqlite", "dataSource": str(tmp_path / f"db{next(counter)}.sqlite")}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_config(request: pytest.FixtureRequest) -> DbConfigFactory:
    """Fresh databases of each engine in turn."""
    name = "postgres_config" if request.param == "postgresql" else "sqlite_config"
    factory: DbConfigFactory = request.getfixturevalue(name)
    return factory


@pytest.fixture
def db(db_config: DbConfigFactory) -> Iterator[SQLDatabase]:
    database = open_database(db_config())
    yield database
    database.close()
