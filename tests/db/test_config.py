"""step-ca's ``db`` section -> engine, and the errors a bad one gives."""

from __future__ import annotations

import datetime
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from appliance.db import open_database
from appliance.db.engine import SQLITE_FILE_IN_DIRECTORY, database_url
from appliance.errors import BadRequest, ErrorKind, Unavailable
from tests.db.conftest import PG_ADMIN_DSN

PASSWORD = "s3cr3t-Pa55"


def test_sqlite_path(tmp_path: Path) -> None:
    url = database_url({"type": "sqlite", "dataSource": str(tmp_path / "sub" / "ca.db")})
    assert (url.drivername, url.database) == ("sqlite+pysqlite", str(tmp_path / "sub" / "ca.db"))
    assert (tmp_path / "sub").is_dir()


@pytest.mark.parametrize("db_type", ["badgerv2", "badgerv1", "badger", "BadgerV2"])
def test_badger_is_mapped_to_sqlite_in_its_directory(tmp_path: Path, db_type: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "db"
    with caplog.at_level(logging.WARNING, logger="appliance.db"):
        database = open_database({"type": db_type, "dataSource": str(directory)})
    try:
        assert database.engine.url.database == str(directory / SQLITE_FILE_IN_DIRECTORY)
        assert (directory / SQLITE_FILE_IN_DIRECTORY).is_file()
        assert any(db_type.lower() in r.getMessage() and "SQLite" in r.getMessage() for r in caplog.records)
    finally:
        database.close()


def test_bbolt_is_mapped_to_sqlite_beside_its_file(tmp_path: Path) -> None:
    url = database_url({"type": "bbolt", "dataSource": str(tmp_path / "bolt.db")})
    assert url.database == str(tmp_path / SQLITE_FILE_IN_DIRECTORY)


def test_sqlite_in_memory_is_shared_by_threads() -> None:
    database = open_database({"type": "sqlite", "dataSource": ":memory:"})
    expires = datetime.datetime.now(datetime.timezone.utc)
    try:
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(database.use_token, "t", "p", expires).result() is True
        assert database.use_token("t", "p", expires) is False
    finally:
        database.close()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_url_uses_psycopg(scheme: str) -> None:
    url = database_url({"type": scheme, "dataSource": f"{scheme}://ca:{PASSWORD}@db.example:6432/ca?sslmode=require"})
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == ("ca", PASSWORD, "db.example", 6432, "ca")
    assert url.query == {"sslmode": "require"}


def test_postgres_keyword_dsn_and_step_ca_database_field() -> None:
    url = database_url({"type": "postgresql", "database": "stepca",
                        "dataSource": f"host=10.0.0.5 port=5433 user=ca password={PASSWORD} sslmode=verify-full"})
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == ("ca", PASSWORD, "10.0.0.5", 5433, "stepca")
    assert url.query == {"sslmode": "verify-full"}


@pytest.mark.parametrize("config, message", [
    ({"type": "cassandra", "dataSource": "x"}, "unknown db.type 'cassandra'"),
    ({"dataSource": "x"}, "unknown db.type ''"),
    ({"type": "sqlite"}, "dataSource is required"),
    ({"type": "postgresql", "dataSource": "mysql://x@y/z"}, "must start with postgresql://"),
    ({"type": "mysql"}, "dataSource is required"),
    ({"type": "mysql", "dataSource": "postgresql://x@y/z"}, "must start with mysql://"),
    ({"type": "mysql", "dataSource": "root@tcp(db:port)/ca"}, "port .* is not a number"),
    ({"type": "mysql", "dataSource": "root@udp(db:3306)/ca"}, "neither a mysql:// URL nor a DSN"),
    ({"type": "mysql", "dataSource": "no slash at all"}, "neither a mysql:// URL nor a DSN"),
])
def test_bad_config_is_a_bad_request(config: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message) as info:
        database_url(config)
    assert info.value.kind is ErrorKind.BAD_REQUEST


@pytest.mark.parametrize("config, expected", [
    ({"dataSource": f"ca:{PASSWORD}@tcp(db.example:3307)/", "database": "stepca"},
     ("ca", PASSWORD, "db.example", 3307, "stepca")),
    ({"dataSource": "root@tcp(127.0.0.1)/ca?parseTime=true"}, ("root", None, "127.0.0.1", None, "ca")),
    ({"dataSource": f"ca:{PASSWORD}@/ca"}, ("ca", PASSWORD, None, None, "ca")),
    ({"dataSource": "ca@tcp([::1]:3306)/ca"}, ("ca", None, "::1", 3306, "ca")),
    ({"dataSource": "ca:p@ss@tcp(db)/ca"}, ("ca", "p@ss", "db", None, "ca")),
    ({"dataSource": f"mysql://ca:{PASSWORD}@db.example:3307/ca?charset=utf8mb4&parseTime=true"},
     ("ca", PASSWORD, "db.example", 3307, "ca")),
    ({"dataSource": "mariadb://ca@db.example/x", "database": "stepca"}, ("ca", None, "db.example", None, "stepca")),
])
def test_mysql_go_dsn_and_url_use_pymysql(config: dict[str, str], expected: tuple[object, ...]) -> None:
    url = database_url({"type": "mysql", **config})
    assert url.drivername == "mysql+pymysql"
    assert (url.username, url.password, url.host, url.port, url.database) == expected
    assert "parseTime" not in url.query  # Go driver options PyMySQL does not know are dropped


def test_mysql_unix_socket_dsn() -> None:
    url = database_url({"type": "mysql", "dataSource": "ca@unix(/run/mysqld/mysqld.sock)/stepca"})
    assert (url.host, url.database, url.query["unix_socket"]) == (None, "stepca", "/run/mysqld/mysqld.sock")


@pytest.mark.parametrize("data_source", [
    f"postgresql://ca:{PASSWORD}@127.0.0.1:1/ca",  # nothing listens on port 1
    f"host=127.0.0.1 port=1 user=ca password={PASSWORD} dbname=ca",
    f"postgresql://ca@127.0.0.1:1/ca?password={PASSWORD}",
])
def test_unreachable_postgres_is_unavailable_without_the_password(data_source: str) -> None:
    with pytest.raises(Unavailable) as info:
        open_database({"type": "postgresql", "dataSource": data_source})
    assert "127.0.0.1" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("data_source", [f"ca:{PASSWORD}@tcp(127.0.0.1:1)/ca", f"mysql://ca:{PASSWORD}@127.0.0.1:1/ca"])
def test_unreachable_mysql_is_unavailable_without_the_password(data_source: str) -> None:
    with pytest.raises(Unavailable) as info:
        open_database({"type": "mysql", "dataSource": data_source})
    assert "127.0.0.1" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.postgres
def test_missing_postgres_database_is_unavailable_without_the_password() -> None:
    server = urlsplit(PG_ADMIN_DSN)
    with pytest.raises(Unavailable, match="does not exist") as info:
        open_database({"type": "postgresql", "dataSource": f"postgresql://{server.username}:{PASSWORD}@"
                                                           f"{server.hostname}:{server.port}/appliance_no_such_db"})
    assert PASSWORD not in str(info.value)


def test_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="unable to open"):
        open_database({"type": "sqlite", "dataSource": str(tmp_path)})  # a directory, not a file


@pytest.mark.parametrize(("setting", "pragma"), [(None, 1), ("NORMAL", 1), ("full", 2), ("EXTRA", 3)])
def test_sqlite_synchronous_is_configurable(tmp_path: Path, setting: str | None, pragma: int) -> None:
    config = {"type": "sqlite", "dataSource": str(tmp_path / "ca.db")}
    database = open_database({**config, "synchronous": setting} if setting else config)
    try:
        with database.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == pragma
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        database.close()


@pytest.mark.parametrize("config", [
    {"type": "sqlite", "synchronous": "OFF"}, {"type": "sqlite", "synchronous": 2},
    {"type": "postgresql", "dataSource": "postgresql://ca@db.example/ca", "synchronous": "FULL"},
])
def test_unusable_synchronous_is_refused_naming_it(tmp_path: Path, config: dict[str, object]) -> None:
    with pytest.raises(BadRequest, match="db.synchronous"):
        open_database({"dataSource": str(tmp_path / "ca.db"), **config})
