"""Migrations: ordered, applied once, atomic, safe when processes start together."""

from __future__ import annotations

import datetime
import multiprocessing

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect, select, text

from appliance.db import migrations, open_database, schema
from tests.db import workers
from tests.db.conftest import DbConfigFactory


def versions(conn: Connection) -> list[int]:
    return list(conn.scalars(select(schema.schema_migrations.c.version).order_by(text("version"))))


def test_fresh_database_matches_the_schema(db_config: DbConfigFactory) -> None:
    database = open_database(db_config())
    try:
        inspector = inspect(database.engine)
        assert set(inspector.get_table_names()) == set(schema.metadata.tables)
        for table in schema.metadata.sorted_tables:
            assert [c["name"] for c in inspector.get_columns(table.name)] == [c.name for c in table.columns]
            # MySQL adds an index to every foreign key that no declared index starts with.
            implicit = ({fk.parent.name for fk in table.foreign_keys} if database.dialect == "mysql" else set())
            assert {i["name"] for i in inspector.get_indexes(table.name)} - implicit == {i.name for i in table.indexes}
        with database.engine.connect() as conn:
            assert versions(conn) == [step.version for step in migrations.STEPS]
    finally:
        database.close()


def test_reopening_applies_nothing(db_config: DbConfigFactory) -> None:
    database = open_database(db_config())
    try:
        assert database.migrate() == []
    finally:
        database.close()


def test_a_new_step_is_applied_to_an_existing_database(db_config: DbConfigFactory,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = db_config()
    open_database(config).close()
    extra = Table("probe_table", MetaData(), Column("id", Integer, primary_key=True))
    step = migrations.Step(migrations.LATEST + 1, "probe table",
                           lambda conn: extra.create(conn))
    monkeypatch.setattr(migrations, "STEPS", (*migrations.STEPS, step))
    database = open_database(config)
    try:
        assert database.migrate() == []
        assert "probe_table" in inspect(database.engine).get_table_names()
        with database.engine.connect() as conn:
            assert versions(conn)[-1] == step.version
    finally:
        database.close()


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_failing_step_leaves_nothing_behind(request: pytest.FixtureRequest, engine: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Transactional DDL (SQLite, PostgreSQL); MySQL's steps are re-runnable instead (below)."""
    config = request.getfixturevalue(f"{engine.replace('postgresql', 'postgres')}_config")()
    open_database(config).close()
    extra = Table("half_done", MetaData(), Column("id", Integer, primary_key=True))

    def fail(conn: Connection) -> None:
        extra.create(conn)
        raise RuntimeError("step failed")

    monkeypatch.setattr(migrations, "STEPS", (*migrations.STEPS, migrations.Step(migrations.LATEST + 1, "bad", fail)))
    with pytest.raises(RuntimeError, match="step failed"):
        open_database(config)
    monkeypatch.undo()
    database = open_database(config)
    try:
        assert "half_done" not in inspect(database.engine).get_table_names()
        with database.engine.connect() as conn:
            assert versions(conn) == [step.version for step in migrations.STEPS]
    finally:
        database.close()


def test_processes_opening_a_new_sqlite_file_together(sqlite_config: DbConfigFactory) -> None:
    """Six processes connect to each of twenty new files at once: switching a file to
    WAL does not wait on the busy timeout by itself, yet none may fail."""
    configs = [sqlite_config() for _ in range(20)]
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Barrier(6)
    with ctx.Pool(6) as pool:
        errors = pool.starmap(workers.connect_each, [(configs, start)] * 6)
    assert [e for batch in errors for e in batch] == []


def test_processes_starting_together_migrate_once(db_config: DbConfigFactory) -> None:
    """Four CA processes open one fresh database at the same instant: every step
    is applied by exactly one of them, and none fails."""
    config = db_config()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Barrier(4)
    with ctx.Pool(4) as pool:
        applied = pool.starmap(workers.migrate, [(config, start)] * 4)
    assert sorted(v for batch in applied for v in batch) == [step.version for step in migrations.STEPS]
    database = open_database(config)
    try:
        with database.engine.connect() as conn:
            assert versions(conn) == [step.version for step in migrations.STEPS]
    finally:
        database.close()


@pytest.mark.mysql
def test_mysql_steps_interrupted_after_their_ddl_are_completed_on_the_next_start(
        mysql_config: DbConfigFactory) -> None:
    """MySQL commits each DDL statement: a run interrupted after a step's tables were
    created but before it was recorded must complete on the next start, not fail."""
    config = mysql_config()
    open_database(config).close()
    database = open_database(config)
    try:
        with database.engine.begin() as conn:
            conn.execute(schema.schema_migrations.delete().where(schema.schema_migrations.c.version >= 5))
        assert database.migrate() == [step.version for step in migrations.STEPS if step.version >= 5]
        with database.engine.connect() as conn:
            assert versions(conn) == [step.version for step in migrations.STEPS]
        assert database.revocations_revision() == 0
    finally:
        database.close()


def test_migration_21_gives_each_revocation_its_certificate_s_expiry(db_config: DbConfigFactory,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A database from before migration 21 (no ``revocations.not_after``) with revocations: the
    upgrade copies each certificate's ``not_after`` (NULL for a serial not recorded) and indexes it."""
    config = db_config()
    with monkeypatch.context() as before_21:
        before_21.setattr(migrations, "STEPS", tuple(step for step in migrations.STEPS if step.version < 21))
        old = open_database(config)
    not_after = datetime.datetime(2027, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    revoked_at = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    try:
        with old.engine.begin() as conn:  # the shape migrations 1..20 left
            conn.execute(text("DROP INDEX ix_revocations_not_after" + (" ON revocations" if old.dialect == "mysql"
                                                                       else "")))
            conn.execute(text("ALTER TABLE revocations DROP COLUMN not_after"))
            conn.execute(schema.certificates.insert(), {
                "serial": "7", "subject": "CN=a", "sans": [], "not_before": revoked_at, "not_after": not_after,
                "provisioner": "p", "pem": "", "issued_at": revoked_at})
            for serial in ("7", "8"):  # 8: a serial this CA has no certificate of
                conn.execute(text("INSERT INTO revocations (serial, reason_code, reason, revoked_at, provisioner, "
                                  "passive, mtls) VALUES (:serial, 1, '', :at, 'p', :no, :no)"),
                             {"serial": serial, "at": revoked_at.replace(tzinfo=None), "no": False})
    finally:
        old.close()
    database = open_database(config)
    try:
        with database.engine.connect() as conn:
            assert versions(conn)[-1] == migrations.LATEST
            rows = dict(conn.execute(select(schema.revocations.c.serial, schema.revocations.c.not_after)).all())
        assert rows == {"7": not_after, "8": None}
        assert "ix_revocations_not_after" in {i["name"] for i in inspect(database.engine).get_indexes("revocations")}
    finally:
        database.close()
