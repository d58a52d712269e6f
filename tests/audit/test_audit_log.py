"""The audit chain on a real SQLite database: appends from several threads form one
chain; verification finds an edited, inserted or deleted record, a truncated chain
and a bad checkpoint signature; checkpoints follow checkpointEvery/Interval."""

from __future__ import annotations

import datetime
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, insert, text, update

from appliance.audit import AuditLog, CheckpointPolicy
from appliance.audit.chain import record_hash
from appliance.audit.setup import open_audit_log
from appliance.config.audit import AuditConfig
from appliance.kms import KeyType, open_key_manager
from appliance.db import open_database
from appliance.db.audit_schema import audit_checkpoints, audit_head, audit_records
from appliance.db.sql import SQLDatabase
from tests.clock import FakeClock
from tests.conftest import SoftHSMToken

KEY = ec.generate_private_key(ec.SECP256R1())
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.fixture
def database(tmp_path: Path) -> SQLDatabase:
    db = open_database({"type": "sqlite", "dataSource": str(tmp_path / "ca.db")})
    yield db
    db.close()


def _log(database: SQLDatabase, every: int = 3, clock: FakeClock | None = None) -> AuditLog:
    return AuditLog(database.transaction, checkpoints=CheckpointPolicy(KEY, every, datetime.timedelta(hours=1)),
                    now=(clock or FakeClock(START)).now)


def _fill(log: AuditLog, count: int) -> None:
    for index in range(count):
        log.append("sign.issued", {"serial": str(index), "provisioner": "admin"})


def test_an_untouched_chain_verifies_with_its_checkpoints(database: SQLDatabase) -> None:
    log = _log(database)
    _fill(log, 7)
    found = log.verify(public_key=KEY.public_key())
    assert found.ok, found.problems
    assert (found.records, found.last_seq) == (7, 7)
    assert [c.seq for c in log.checkpoints()] == [1, 3, 6]  # the first record, then every 3
    assert log.page(after=2, limit=2).records[0].seq == 3 and log.page(after=2, limit=2).next_after == 4
    assert log.page(after=5, limit=10).next_after is None


def test_appends_from_many_threads_make_one_chain(database: SQLDatabase) -> None:
    log = _log(database, every=1000)
    threads = [threading.Thread(target=_fill, args=(log, 10)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = log.verify()
    assert found.ok and found.last_seq == 40


def _tampered(database: SQLDatabase, statement: object) -> list[str]:
    log = _log(database)
    _fill(log, 7)
    with database.transaction(immediate=True) as conn:
        conn.execute(statement)  # type: ignore[call-overload]
    return log.verify(public_key=KEY.public_key()).problems


def test_an_edited_record_is_found(database: SQLDatabase) -> None:
    problems = _tampered(database, update(audit_records).where(audit_records.c.seq == 4)
                         .values(data='{"provisioner":"admin","serial":"999"}'))
    assert problems == ["record 4: its content does not match its hash (edited)"]


def test_a_deleted_record_is_found(database: SQLDatabase) -> None:
    problems = _tampered(database, delete(audit_records).where(audit_records.c.seq == 4))
    assert "record 4: missing (next is record 5)" in problems


def test_an_inserted_record_is_found_even_with_a_valid_hash_of_its_own(database: SQLDatabase) -> None:
    log = _log(database)
    _fill(log, 3)
    with database.transaction(immediate=True) as conn:
        for seq in (3, 2):  # make room for a forgery
            conn.execute(update(audit_records).where(audit_records.c.seq == seq).values(seq=seq + 1))
        head = conn.execute(text("SELECT hash FROM audit_records WHERE seq = 1")).scalar_one()
        at, data = "2026-01-01T00:00:00.000000+00:00", '{"serial":"forged"}'
        conn.execute(insert(audit_records).values(seq=2, at=at, event="sign.issued", data=data, prev_hash=head,
                                                  hash=record_hash(2, at, "sign.issued", data, head)))
        conn.execute(update(audit_head).values(seq=4))
    problems = log.verify(public_key=KEY.public_key()).problems
    assert any(p.startswith("record 3") for p in problems), problems


def test_a_truncated_chain_is_found_even_with_its_head_rewritten(database: SQLDatabase) -> None:
    log = _log(database)
    _fill(log, 7)
    with database.transaction(immediate=True) as conn:
        last = conn.execute(text("SELECT hash FROM audit_records WHERE seq = 5")).scalar_one()
        conn.execute(delete(audit_records).where(audit_records.c.seq > 5))
        conn.execute(update(audit_head).values(seq=5, hash=last))
    problems = log.verify(public_key=KEY.public_key()).problems
    assert problems == ["checkpoint at record 6: the record is missing (chain truncated)"]


def test_a_bad_checkpoint_signature_is_found(database: SQLDatabase) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    log = _log(database)
    _fill(log, 3)
    assert not log.verify(public_key=other.public_key()).ok  # another key: every checkpoint refused
    with database.transaction(immediate=True) as conn:
        conn.execute(update(audit_checkpoints).where(audit_checkpoints.c.seq == 3).values(at="2030-01-01T00:00:00"))
    assert log.verify(public_key=KEY.public_key()).problems == ["checkpoint at record 3: bad signature"]


def test_a_checkpoint_is_signed_once_the_interval_has_passed(database: SQLDatabase) -> None:
    clock = FakeClock(START)
    log = _log(database, every=1000, clock=clock)
    _fill(log, 2)
    clock.advance(59 * 60)
    _fill(log, 1)
    clock.advance(2 * 60)
    _fill(log, 1)
    assert [c.seq for c in log.checkpoints()] == [1, 4]


def test_secret_named_fields_are_never_recorded(database: SQLDatabase) -> None:
    log = AuditLog(database.transaction)
    record = log.append("sign.refused", {"ott": "x", "token": "eyJ.secret", "password": "p", "pin": "1234",
                                         "nested": {"private_key": "k", "kept": 1}})
    assert record.to_json()["data"] == {"nested": {"kept": 1}}


@pytest.mark.hsm
def test_checkpoints_signed_by_a_key_on_the_hsm(database: SQLDatabase, softhsm_token: SoftHSMToken) -> None:
    with open_key_manager(softhsm_token.kms_uri) as kms:
        created = kms.create_key("pkcs11:object=audit", KeyType.EC_P256)
    key_uri = softhsm_token.kms_uri.replace("pkcs11:", "pkcs11:object=audit;", 1)
    log = open_audit_log(AuditConfig(checkpoint_key=key_uri, checkpoint_every=2), database.transaction)
    assert log is not None
    try:
        _fill(log, 4)
    finally:
        log.close()
    assert [c.seq for c in log.checkpoints()] == [1, 2, 4]
    assert log.verify(public_key=created.public_key).ok
    assert not log.verify(public_key=KEY.public_key()).ok
