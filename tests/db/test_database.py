"""The Database protocol's behaviour, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime
import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

from appliance.db import CertificateRecord, Database, RevocationRecord, SQLDatabase, open_database
from appliance.errors import Conflict
from tests.db import workers
from tests.db.conftest import DbConfigFactory

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)


def certificate(serial: str, *, not_after: datetime.datetime = NOW + 24 * HOUR) -> CertificateRecord:
    return CertificateRecord(
        serial=serial, subject="CN=www.example.com", sans=("www.example.com", "10.0.0.1"),
        not_before=NOW, not_after=not_after, provisioner="jwk@example.com",
        pem="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", issued_at=NOW)


def revocation(serial: str, *, at: datetime.datetime = NOW, passive: bool = True) -> RevocationRecord:
    return RevocationRecord(serial=serial, reason_code=1, reason="key compromise", revoked_at=at,
                            provisioner="jwk@example.com", passive=passive, mtls=not passive)


def test_implements_the_protocol(db: SQLDatabase) -> None:
    implementation: Database = db
    assert implementation is db


def test_record_and_get_certificate(db: SQLDatabase) -> None:
    serial = "340282366920938463463374607431768211455123456789"  # 48 digits
    db.record_certificate(certificate(serial))
    assert db.get_certificate(serial) == certificate(serial)
    assert db.get_certificate("1") is None


def test_datetimes_come_back_aware_in_utc(db: SQLDatabase) -> None:
    paris = datetime.timezone(datetime.timedelta(hours=2))
    record = certificate("7")
    db.record_certificate(CertificateRecord(**{**record.__dict__, "not_before": NOW.astimezone(paris)}))
    stored = db.get_certificate("7")
    assert stored is not None
    assert stored.not_before == NOW and stored.not_before.tzinfo == UTC
    assert stored.not_after.tzinfo == UTC


def test_naive_datetime_is_refused(db: SQLDatabase) -> None:
    with pytest.raises(ValueError, match="naive"):
        db.use_token("naive", "p", datetime.datetime(2026, 1, 1))


def test_duplicate_serial_is_a_conflict(db: SQLDatabase) -> None:
    db.record_certificate(certificate("42"))
    with pytest.raises(Conflict, match="42"):
        db.record_certificate(certificate("42"))
    assert db.get_certificate("42") == certificate("42")


def test_revoke_and_get(db: SQLDatabase) -> None:
    db.record_certificate(certificate("5"))
    db.revoke(revocation("5", passive=False))
    assert db.get_revocation("5") == revocation("5", passive=False)
    assert db.get_revocation("6") is None
    with pytest.raises(Conflict, match="already revoked"):
        db.revoke(revocation("5"))


def test_every_revocation_changes_the_revision(db: SQLDatabase) -> None:
    first = db.revocations_revision()
    db.revoke(revocation("1"))
    second = db.revocations_revision()
    assert second != first
    with pytest.raises(Conflict):
        db.revoke(revocation("1"))
    assert db.revocations_revision() == second
    db.revoke(revocation("2"))
    assert db.revocations_revision() not in (first, second)


def test_list_revocations_oldest_first(db: SQLDatabase) -> None:
    for serial, hours in (("3", 2), ("1", 0), ("2", 1)):
        db.revoke(revocation(serial, at=NOW + hours * HOUR))
    assert [r.serial for r in db.list_revocations()] == ["1", "2", "3"]


def test_list_active_revocations_leaves_out_expired_certificates(db: SQLDatabase) -> None:
    now = datetime.datetime.now(UTC)
    db.record_certificate(certificate("10", not_after=now - HOUR))
    db.record_certificate(certificate("11", not_after=now + HOUR))
    for serial in ("10", "11", "12"):  # 12 was never recorded here: keep it, its expiry is unknown
        db.revoke(revocation(serial))
    assert [r.serial for r in db.list_revocations(active_only=True)] == ["11", "12"]
    assert [r.serial for r in db.list_revocations()] == ["10", "11", "12"]


def test_token_is_used_once(db: SQLDatabase) -> None:
    assert db.use_token("jti-1", "jwk", NOW + HOUR) is True
    assert db.use_token("jti-1", "jwk", NOW + HOUR) is False
    assert db.use_token("jti-1", "other", NOW + 2 * HOUR) is False
    assert db.use_token("jti-2", "jwk", NOW + HOUR) is True


def test_token_is_used_once_across_threads(db: SQLDatabase) -> None:
    ids = [f"t{i}" for i in range(100)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda tid: db.use_token(tid, "jwk", NOW + HOUR), ids * 4))
    assert sum(results) == len(ids)


def test_token_is_used_once_across_processes(db_config: DbConfigFactory) -> None:
    """Four processes race on the same 200 token ids: each is accepted exactly once in total.

    On a loaded machine one process may take every token before the others are
    scheduled; that round proves nothing about contention, so up to three rounds
    (fresh ids each) are run until two processes really collided. Exactly-once
    is checked in every round."""
    config = db_config()
    open_database(config).close()  # migrated before the race: the race is on the tokens
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Barrier(4)
    racers_with_tokens = 0
    with ctx.Pool(4) as pool:
        for round_ in range(3):
            ids = [f"race-{round_}-{i}" for i in range(200)]
            accepted = pool.starmap(workers.use_tokens, [(config, ids, start, seed) for seed in range(4)])
            flat = [tid for batch in accepted for tid in batch]
            assert sorted(flat) == sorted(ids)
            racers_with_tokens = sum(1 for batch in accepted if batch)
            if racers_with_tokens > 1:
                break
    assert racers_with_tokens > 1, "no race happened in three rounds: one process took every token"


def test_purge_expired_tokens(db: SQLDatabase) -> None:
    db.use_token("old-1", "jwk", NOW - HOUR)
    db.use_token("old-2", "jwk", NOW - datetime.timedelta(microseconds=1))
    db.use_token("current", "jwk", NOW + HOUR)
    assert db.purge_expired(NOW)["used_tokens"] == 2
    assert db.purge_expired(NOW)["used_tokens"] == 0
    assert db.use_token("current", "jwk", NOW + HOUR) is False
    assert db.use_token("old-1", "jwk", NOW - HOUR) is True  # forgotten: its token expired anyway


def test_reopening_keeps_data(db_config: DbConfigFactory) -> None:
    config = db_config()
    first = open_database(config)
    first.record_certificate(certificate("99"))
    first.close()
    second = open_database(config)
    assert second.get_certificate("99") == certificate("99")
    assert second.use_token("x", "p", NOW) is True
    second.close()
