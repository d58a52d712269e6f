"""The retention job of ``appliance serve``: expired used tokens, ACME state and old SCEP
transactions go, live rows and certificates stay, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from appliance.acme.models import (Account, Authorization, Challenge, ChallengeType, Identifier, IssuedCertificate,
                                   Order, Status, new_id)
from appliance.pki.clock import utc_now
from appliance.server.retention import RetentionJob
from appliance.db import open_database
from appliance.db.acme_schema import (acme_accounts, acme_authorizations, acme_certificates, acme_challenges,
                                      acme_nonces, acme_orders)
from appliance.acme.sql_store import SQLAcmeStore
from appliance.db.schema import used_tokens
from appliance.db.scep_schema import TRANSACTION_LIFETIME, scep_transactions
from appliance.scep.store import SQLScepStore, TransactionKey
from tests.db.conftest import DbConfigFactory

TABLES = (used_tokens, acme_nonces, acme_orders, acme_authorizations, acme_challenges, acme_accounts,
          acme_certificates, scep_transactions)


def _populate(db_config: dict[str, Any]) -> None:
    """One expired and one live row of each kind; a certificate of the expired valid order."""
    now = utc_now()  # the retention job purges by the wall clock
    past, future = now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=1)
    database = open_database(db_config)
    store = SQLAcmeStore(database)
    try:
        for name, expires in (("expired", past), ("live", future)):
            assert database.use_token(f"{name}-token", "admin", expires)
            store.add_nonce(f"{name}-nonce", expires)
        account = store.create_account(Account(new_id(), "acme", {"kty": "EC"}, new_id(), (), Status.VALID, past))
        for name, expires, status in (("expired", past, Status.VALID), ("live", future, Status.PENDING)):
            authz_id = new_id()
            challenge = Challenge(new_id(), authz_id, ChallengeType.HTTP_01, new_id(), status)
            authz = Authorization(authz_id, account.id, Identifier("dns", f"{name}.test"), False, status, expires,
                                  (challenge,))
            order = Order(new_id(), account.id, "acme", status, expires, (authz.identifier,), (authz_id,), past)
            store.create_order(order, [authz])
        store.record_certificate(IssuedCertificate(new_id(), account.id, order.id, "1234", "cert-id", "PEM",
                                                   past, future))
        scep = SQLScepStore(database)
        for name, opened in (("old", now - TRANSACTION_LIFETIME - datetime.timedelta(hours=1)), ("recent", past)):
            assert scep.claim(TransactionKey("scep", name), "aa" * 32, opened) is None
    finally:
        store.close()


def _counts(db_config: dict[str, Any]) -> dict[str, int]:
    database = open_database(db_config)
    try:
        with database.transaction() as conn:
            return {t.name: conn.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES}
    finally:
        database.close()


def test_purge_deletes_expired_rows_and_keeps_live_ones(db_config: DbConfigFactory,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    config = db_config()
    _populate(config)
    caplog.set_level(logging.INFO, "appliance.retention")
    job = RetentionJob(config, datetime.timedelta(minutes=10))
    counts = job.purge_once()
    assert counts == {"used_tokens": 1, "nonces": 1, "orders": 1, "authorizations": 1, "challenges": 1,
                      "scep_transactions": 1}
    assert _counts(config) == {"used_tokens": 1, "acme_nonces": 1, "acme_orders": 1, "acme_authorizations": 1,
                               "acme_challenges": 1, "acme_accounts": 1, "acme_certificates": 1,
                               "scep_transactions": 1}
    assert job.purge_once() == dict.fromkeys(counts, 0)  # idempotent: what another instance finds
    assert "retention: deleted expired used_tokens 1, nonces 1, orders 1" in caplog.text
    job.stop()  # never started: closes its database


def test_job_purges_at_start_and_survives_failures(db_config: DbConfigFactory,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "appliance.retention")
    broken = RetentionJob({"type": "sqlite"}, datetime.timedelta(seconds=0.2))  # no dataSource
    assert broken.purge_once() is None  # logged, not raised
    assert "retention: purge failed, retrying in 0.2s" in caplog.text
    config = db_config()
    _populate(config)
    job = RetentionJob(config, datetime.timedelta(minutes=10))
    job.start()
    try:
        deadline = time.monotonic() + 20
        while _counts(config)["acme_nonces"] != 1:
            assert time.monotonic() < deadline, "the job did not purge at start"
            time.sleep(0.05)
    finally:
        job.stop()
    assert _counts(config)["used_tokens"] == 1


def test_a_disabled_job_purges_nothing_until_enabled(db_config: DbConfigFactory) -> None:
    config = db_config()
    _populate(config)
    job = RetentionJob(config, datetime.timedelta(0))
    job.start()
    try:
        time.sleep(0.3)
        assert _counts(config)["acme_nonces"] == 2
        job.update(config, datetime.timedelta(seconds=1))
        deadline = time.monotonic() + 20
        while _counts(config)["acme_nonces"] != 1:
            assert time.monotonic() < deadline, "the job did not purge after the update"
            time.sleep(0.05)
    finally:
        job.stop()
