"""step-ca's ``db`` configuration section -> a configured SQLAlchemy engine."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool, StaticPool

from appliance.errors import BadRequest
from appliance.db.metered import meter
from appliance.db.prepared import run

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
WAL_RETRY_INTERVAL = 0.01
SQLITE_FILE_IN_DIRECTORY = "appliance.sqlite"
_BADGER_TYPES = frozenset({"badger", "badgerv1", "badgerv2"})
_POSTGRES_TYPES = frozenset({"postgresql", "postgres"})
_POSTGRES_DRIVER = "postgresql+psycopg"
_MYSQL_DRIVER = "mysql+pymysql"
# Go's MySQL DSN, as step-ca takes it: [user[:password]@][tcp(host[:port])]/[dbname][?param=value&...]
_GO_MYSQL_DSN = re.compile(r"^(?:(?P<user>[^:@/]*)(?::(?P<password>.*))?@)?"
                           r"(?:(?P<net>\w+)(?:\((?P<address>[^)]*)\))?)?/(?P<database>[^?]*)(?:\?(?P<query>.*))?$")
#: ``db.synchronous`` (ours, SQLite only): NORMAL (default) commits survive a crash of any
#: process, and in WAL mode the database stays consistent after a power loss, but the last
#: transactions before it may be lost (rolled back: a certificate sent may be missing, a spent
#: token usable again); FULL and EXTRA sync the WAL at every commit, so none is (one fsync
#: per issuance).
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")
_MYSQL_PARAMS = frozenset({"charset", "unix_socket", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity"})


def database_url(db_config: dict[str, Any]) -> URL:
    """The URL that step-ca's ``db`` section (``type``, ``dataSource``, ``database``) names."""
    db_type = str(db_config.get("type", "")).lower()
    source = str(db_config.get("dataSource", "") or "")
    if db_type in _POSTGRES_TYPES:
        return _postgres_url(source, db_config.get("database"))
    if db_type == "mysql":
        return _mysql_url(source, db_config.get("database"))
    if not source:
        raise BadRequest(f"db.dataSource is required for db.type '{db_type}'")
    if db_type == "sqlite":
        return _sqlite_url(source)
    if db_type in _BADGER_TYPES or db_type == "bbolt":
        directory = Path(source) if db_type in _BADGER_TYPES else Path(source).parent
        path = directory / SQLITE_FILE_IN_DIRECTORY
        log.warning("db.type '%s' is step-ca's embedded store: using SQLite at %s instead "
                    "(step-ca's data is not imported)", db_type, path)
        return _sqlite_url(str(path))
    raise BadRequest(f"unknown db.type '{db_type}' (supported: sqlite, postgresql, mysql; "
                     "badger, badgerv1, badgerv2 and bbolt are mapped to sqlite)")


def _sqlite_url(source: str) -> URL:
    if source.startswith("sqlite:"):
        return make_url(source)
    if source == ":memory:":
        return URL.create("sqlite+pysqlite", database=":memory:")
    path = Path(source).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return URL.create("sqlite+pysqlite", database=str(path))


def _postgres_url(source: str, database: Any) -> URL:
    """A postgres[ql]:// URL or a libpq ``key=value`` DSN, on the psycopg 3 driver."""
    if not source:
        raise BadRequest("db.dataSource is required for db.type 'postgresql'")
    if "://" in source:
        try:
            url = make_url(source)
        except Exception:
            raise BadRequest("db.dataSource is not a valid PostgreSQL URL") from None
        if url.get_backend_name() not in _POSTGRES_TYPES:
            raise BadRequest(f"db.dataSource for postgresql must start with postgresql://, not {url.drivername}://")
        url = url.set(drivername=_POSTGRES_DRIVER)
    else:
        url = _url_from_conninfo(source)
    return url.set(database=str(database)) if database else url


def _url_from_conninfo(source: str) -> URL:
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(source).items() if v is not None}
    except Exception:
        raise BadRequest("db.dataSource is neither a postgresql:// URL nor a key=value DSN") from None
    port = params.pop("port", None)
    return URL.create(
        _POSTGRES_DRIVER,
        username=params.pop("user", None),
        password=params.pop("password", None),
        host=params.pop("host", None),
        port=int(port) if port else None,
        database=params.pop("dbname", None),
        query=params,
    )


def _mysql_url(source: str, database: Any) -> URL:
    """A mysql:// URL or Go's ``user:password@tcp(host:port)/dbname`` DSN, on the PyMySQL driver."""
    if not source:
        raise BadRequest("db.dataSource is required for db.type 'mysql'")
    if "://" in source:
        try:
            url = make_url(source)
        except Exception:
            raise BadRequest("db.dataSource is not a valid MySQL URL") from None
        if url.get_backend_name() not in ("mysql", "mariadb"):
            raise BadRequest(f"db.dataSource for mysql must start with mysql://, not {url.drivername}://")
        url = url.set(drivername=_MYSQL_DRIVER)
    else:
        url = _url_from_go_dsn(source)
    url = url.set(query={k: v for k, v in url.query.items() if k in _MYSQL_PARAMS})
    return url.set(database=str(database)) if database else url


def _url_from_go_dsn(source: str) -> URL:
    match = _GO_MYSQL_DSN.match(source)
    if match is None or (match["net"] or "tcp") not in ("tcp", "unix"):
        raise BadRequest("db.dataSource is neither a mysql:// URL nor a DSN like user:password@tcp(host:port)/dbname")
    query = dict(part.split("=", 1) for part in (match["query"] or "").split("&") if "=" in part)
    host, port, address = None, None, match["address"] or ""
    if match["net"] == "unix":
        query["unix_socket"] = address
    elif address:
        host, _, port_text = address.rpartition(":") if ":" in address.rsplit("]", 1)[-1] else (address, "", "")
        host = host.strip("[]")
        if port_text and not port_text.isdigit():
            raise BadRequest("db.dataSource: the port in tcp(host:port) is not a number")
        port = int(port_text) if port_text else None
    return URL.create(_MYSQL_DRIVER, username=match["user"] or None, password=match["password"],
                      host=host or None, port=port, database=match["database"] or None, query=query)


def sqlite_synchronous(db_config: dict[str, Any], url: URL) -> str:
    """``db.synchronous`` (NORMAL when absent); refused with an error naming it unless it is one
    of ``SQLITE_SYNCHRONOUS`` and the database is SQLite."""
    value = db_config.get("synchronous")
    if value is None:
        return "NORMAL"
    if url.get_backend_name() != "sqlite":
        raise BadRequest(f"db.synchronous is a SQLite setting: not for db.type {db_config.get('type')!r}")
    if not isinstance(value, str) or value.upper() not in SQLITE_SYNCHRONOUS:
        raise BadRequest(f"db.synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS)}")
    return value.upper()


def create_database_engine(url: URL, *, synchronous: str = "NORMAL") -> Engine:
    """A pooled engine tuned for short transactions on the issuance hot path; ``synchronous``:
    SQLite's setting (``SQLITE_SYNCHRONOUS``)."""
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, synchronous)
    elif url.get_backend_name() == "mysql":
        engine = _mysql_engine(url)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=20, hide_parameters=True,
                               connect_args={"connect_timeout": 10, "application_name": "appliance"})
    _dispose_in_forked_children(engine)
    meter(engine)
    return engine


def _mysql_engine(url: URL) -> Engine:
    """InnoDB in its default REPEATABLE READ (a locking read of an absent row holds its gap:
    see ``SQLDatabase.record_renewal``), utf8mb4, UTC sessions."""
    return create_engine(url.update_query_dict({"charset": url.query.get("charset", "utf8mb4")}), pool_size=10, max_overflow=20,
                         pool_pre_ping=True, pool_recycle=3600, hide_parameters=True,
                         connect_args={"connect_timeout": 10, "init_command": "SET time_zone = '+00:00'"})


def create_database_if_absent(engine: Engine) -> None:
    """MySQL: create the database the engine names when absent, as step-ca does."""
    url = engine.url
    if url.get_backend_name() != "mysql" or not url.database:
        return
    server = create_engine(url.set(database=None), poolclass=NullPool, hide_parameters=True,
                           connect_args={"connect_timeout": 10})
    try:
        with server.connect() as conn:
            name = str(url.database).replace("`", "``")
            conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    finally:
        server.dispose()


def _sqlite_engine(url: URL, synchronous: str) -> Engine:
    """WAL, ``synchronous``, a busy timeout so that worker processes wait for each other's
    writes, foreign keys, and transactions begun by us (``BEGIN IMMEDIATE``
    when a connection asks for it with ``sqlite_begin="IMMEDIATE"``)."""
    memory = url.database in (None, "", ":memory:")
    engine = create_engine(
        url, hide_parameters=True,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **({"poolclass": StaticPool} if memory else {"pool_size": 8, "max_overflow": 8}),
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # no implicit BEGIN from the sqlite3 module
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        for pragma in (f"synchronous = {synchronous}", "foreign_keys = ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        run(conn, f"BEGIN {mode}".strip())  # on the DB-API cursor: no execution context per transaction

    return engine


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """``PRAGMA journal_mode = WAL``. Switching a new file to WAL takes an exclusive
    lock and fails at once ("database is locked", no busy timeout) while another
    process opens it too: retry within the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_INTERVAL)


def _dispose_in_forked_children(engine: Engine) -> None:
    """A forked worker must not reuse its parent's pooled connections."""
    ref = weakref.ref(engine)

    def after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=after_fork)
