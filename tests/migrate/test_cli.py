"""``appliance migrate step-ca``'s refusals: a step-ca database it cannot reach or that names no
database is one line on stderr and exit status 1, the target untouched (the real PostgreSQL server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli.main import cli
from appliance.db.stepca_source import source_url
from tests.ca_fixtures import build_ca
from tests.db.conftest import PG_ADMIN_DSN


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    ca = build_ca(tmp_path)
    result = CliRunner().invoke(cli, ["migrate", "step-ca", "--ca-config", str(ca.config_path), *args])
    assert not (tmp_path / "db" / "appliance.sqlite").exists()  # the target was not opened
    return result.exit_code, result.output


def test_unreachable_step_ca_database(tmp_path: Path) -> None:
    code, output = _run(tmp_path, "--from", "postgresql://step:s3cret@127.0.0.1:1/stepca")
    assert code == 1
    assert "error: step-ca database postgresql+psycopg://step:***@127.0.0.1:1/stepca" in output
    assert "s3cret" not in output


@pytest.mark.postgres
def test_dsn_without_database(tmp_path: Path) -> None:
    code, output = _run(tmp_path, "--from", PG_ADMIN_DSN.rsplit("/", 1)[0] + "/")
    assert (code, output.strip()) == (1, "error: the step-ca DSN names no database (add it to the DSN or give "
                                         "--database)")


@pytest.mark.parametrize(("dsn", "database", "url"), [
    ("postgresql://u:p@db:5432/", "stepca", "postgresql+psycopg://u:***@db:5432/stepca"),
    ("user=postgres dbname=stepca host=db", None, "postgresql+psycopg://postgres@db/stepca"),
    ("u:p@tcp(db:3306)/stepca", None, "mysql+pymysql://u:***@db:3306/stepca"),
    ("u@unix(/run/mysqld/mysqld.sock)/", "stepca", "mysql+pymysql://u@/stepca?unix_socket=%2Frun%2Fmysqld%2Fmysqld.sock"),
])
def test_step_ca_data_sources(dsn: str, database: str | None, url: str) -> None:
    """step-ca's ``dataSource`` forms, as its badger-migration tool's examples write them."""
    assert source_url(dsn, database).render_as_string(hide_password=True) == url
