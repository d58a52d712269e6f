"""A write transaction the database picks as a deadlock's victim runs again (it was rolled back
whole), up to DEADLOCK_ATTEMPTS times; then the caller gets Unavailable (503) and nothing is kept.
The deadlock is the driver's own error (pymysql's 1213, psycopg's DeadlockDetected), raised as the
victim statement is sent: real deadlocks come from concurrent renew and revoke on InnoDB
(tests/authority/test_renew_revoke_race.py), but not on cue."""

from __future__ import annotations

from typing import Any, Iterator

import psycopg.errors
import pymysql
import pytest
from sqlalchemy import event

from appliance.db import SQLDatabase, open_database
from appliance.db.sql import DEADLOCK_ATTEMPTS
from appliance.errors import Unavailable
from tests.db.conftest import mysql_config, postgres_config  # noqa: F401
from tests.db.test_database import NOW, certificate, revocation

_DEADLOCKS = {
    "postgresql": lambda: psycopg.errors.DeadlockDetected("deadlock detected"),
    "mysql": lambda: pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock"),
}


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mysql", marks=pytest.mark.mysql)])
def db(request: pytest.FixtureRequest) -> Iterator[SQLDatabase]:
    database = open_database(request.getfixturevalue(f"{request.param}_config")())
    yield database
    database.close()


class Victim:
    """Fails the first ``times`` statements containing ``marker`` with the driver's deadlock error."""

    def __init__(self, db: SQLDatabase, marker: str, times: int) -> None:
        self.marker, self.left, self.seen = marker, times, 0
        self.error = _DEADLOCKS[db.dialect]
        event.listen(db.engine, "before_cursor_execute", self)

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.marker in statement:
            self.seen += 1
            if self.left:
                self.left -= 1
                raise self.error()


def test_a_revocation_chosen_as_a_deadlock_victim_runs_again(db: SQLDatabase) -> None:
    db.record_certificate(certificate("7"))
    revision = db.revocations_revision()
    victim = Victim(db, "INSERT INTO revocations", times=1)
    db.revoke(revocation("7"))
    assert victim.seen == 2
    assert db.get_revocation("7") == revocation("7")
    assert db.revocations_revision() == revision + 1  # the first attempt left nothing


def test_an_issuance_chosen_as_a_deadlock_victim_spends_its_token_once(db: SQLDatabase) -> None:
    victim = Victim(db, "INSERT INTO certificates", times=DEADLOCK_ATTEMPTS - 1)
    assert db.use_token_and_record("jti-1", "jwk", NOW, certificate("8"))
    assert victim.seen == DEADLOCK_ATTEMPTS
    assert db.get_certificate("8") == certificate("8")
    assert not db.use_token("jti-1", "jwk", NOW)  # spent by the attempt that committed, and only once


def test_a_transaction_that_stays_the_victim_is_unavailable_and_keeps_nothing(db: SQLDatabase) -> None:
    db.record_certificate(certificate("9"))
    revision = db.revocations_revision()
    victim = Victim(db, "INSERT INTO revocations", times=DEADLOCK_ATTEMPTS)
    with pytest.raises(Unavailable, match="unavailable"):
        db.revoke(revocation("9"))
    assert victim.seen == DEADLOCK_ATTEMPTS
    assert db.get_revocation("9") is None
    assert db.revocations_revision() == revision
