"""``use_token_and_record``: the token and the certificate of one issuance in one
transaction, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from appliance.db import SQLDatabase, open_database
from appliance.db.interfaces import KeyBlocked, RevocationRecord
from appliance.errors import Conflict
from tests.db.conftest import DbConfigFactory
from tests.db.test_database import HOUR, NOW, certificate


def test_token_and_certificate_are_written_together(db: SQLDatabase) -> None:
    assert db.use_token_and_record("jti-1", "jwk", NOW + HOUR, certificate("1")) is True
    assert db.get_certificate("1") == certificate("1")
    assert db.use_token("jti-1", "jwk", NOW + HOUR) is False


def test_replayed_token_writes_nothing(db: SQLDatabase) -> None:
    assert db.use_token_and_record("jti-1", "jwk", NOW + HOUR, certificate("1")) is True
    assert db.use_token_and_record("jti-1", "jwk", NOW + HOUR, certificate("2")) is False
    assert db.get_certificate("2") is None


def test_serial_conflict_leaves_the_token_unused(db: SQLDatabase) -> None:
    db.record_certificate(certificate("1"))
    with pytest.raises(Conflict):
        db.use_token_and_record("jti-1", "jwk", NOW + HOUR, certificate("1"))
    assert db.use_token_and_record("jti-1", "jwk", NOW + HOUR, certificate("2")) is True


def test_a_blocked_key_is_refused_in_the_recording_transaction(db: SQLDatabase) -> None:
    db.record_certificate(certificate("1"))
    db.revoke(RevocationRecord(serial="1", reason_code=1, reason="", revoked_at=NOW, provisioner="jwk"),
              block_key="ab" * 32)
    with pytest.raises(KeyBlocked):
        db.use_token_and_record("jti-1", "jwk", NOW + HOUR, certificate("2"), key="ab" * 32)
    with pytest.raises(KeyBlocked):
        db.record_certificate(certificate("3"), key="ab" * 32)
    db.record_certificate(certificate("4"))
    with pytest.raises(KeyBlocked):
        db.record_renewal("4", certificate("5"), key="ab" * 32)
    assert [db.get_certificate(s) for s in ("2", "3", "5")] == [None, None, None]
    assert db.use_token_and_record("jti-1", "jwk", NOW + HOUR, certificate("2"), key="cd" * 32) is True


def test_token_is_used_once_across_threads(db: SQLDatabase) -> None:
    def issue(index: int) -> bool:
        return db.use_token_and_record(f"t{index % 50}", "jwk", NOW + HOUR, certificate(str(index + 1)))

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(issue, range(200)))
    assert sum(results) == 50
    assert sum(db.get_certificate(str(index + 1)) is not None for index in range(200)) == 50


def issue_with_tokens(db_config: dict[str, Any], token_ids: list[str], start: Any, seed: int) -> list[str]:
    """Worker: issue one certificate (serials of its own) per token id; the ids it got."""
    database = open_database(db_config)
    start.wait()
    try:
        return [tid for index, tid in enumerate(token_ids)
                if database.use_token_and_record(tid, "racer", NOW + HOUR, certificate(f"{seed + 1}{index:04d}"))]
    finally:
        database.close()


def test_token_is_used_once_across_processes(db_config: DbConfigFactory) -> None:
    """Four processes race on the same 100 token ids: each id gets exactly one certificate."""
    config = db_config()
    open_database(config).close()
    ids = [f"race-{i}" for i in range(100)]
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Barrier(4)
    with ctx.Pool(4) as pool:
        accepted = pool.starmap(issue_with_tokens, [(config, ids, start, seed) for seed in range(4)])
    assert sorted(tid for batch in accepted for tid in batch) == sorted(ids)
    database = open_database(config)
    try:
        recorded = [database.get_certificate(f"{seed + 1}{index:04d}") is not None
                    for seed in range(4) for index in range(len(ids))]
    finally:
        database.close()
    assert sum(recorded) == len(ids)


def test_the_issuance_statements_are_counted_and_keep_their_types(db: SQLDatabase) -> None:
    """They run on the DB-API cursor (``appliance.db.prepared``): still counted as queries, and the
    record reads back as written (UTC datetimes, the SANs' JSON, the names' index)."""
    from appliance import metrics
    from appliance.db.name_index import certificate_names
    from sqlalchemy import select

    counter = metrics.db_queries.labels(db.dialect, "ok")
    before = counter._value.get()
    record = certificate("77")
    assert db.use_token_and_record("jti-77", "jwk", NOW + HOUR, record, key="ab" * 32) is True
    assert counter._value.get() - before >= 4  # BEGIN (SQLite), blocked key, token, certificate, names
    assert db.get_certificate("77") == record
    with db.transaction() as conn:
        names = conn.execute(select(certificate_names.c.name).where(certificate_names.c.serial == "77")).scalars()
        assert sorted(names) == sorted({n.lower() for n in record.sans})
