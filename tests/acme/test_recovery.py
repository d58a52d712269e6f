"""A challenge left processing by a process that died is validated again: when an
ACME server starts, and when the client reads it; a recent one is left alone."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
from sqlalchemy import inspect, text, update

from appliance.acme import AcmeServer, AcmeSettings
from appliance.acme.models import Challenge, Status
from appliance.db import open_database
from appliance.db.acme_schema import acme_challenges
from appliance.pki.clock import utc_now
from tests.acme.client import AcmeClient
from tests.acme.conftest import FAST_VALIDATION, AcmeEnv
from tests.clock import FakeClock
from tests.db.conftest import DbConfigFactory, db_config, mysql_config, postgres_config, sqlite_config  # noqa: F401

HOUR = datetime.timedelta(hours=1)
SECOND = datetime.timedelta(seconds=1)
STALE = FAST_VALIDATION.stale_after


def stalled_challenge(env: AcmeEnv, client: AcmeClient, since: datetime.datetime | None,
                      answered: bool = True) -> tuple[str, str, str]:
    """An http-01 challenge (answered on the responder, unless not ``answered``) left
    processing since ``since`` as by a process that claimed it and died: its
    authorization's URL, its own URL and its token."""
    authz_url = client.new_order("stuck.example.test").json()["authorizations"][0]
    challenge = next(c for c in client.post(authz_url).json()["challenges"] if c["type"] == "http-01")
    if answered:
        env.web.tokens[challenge["token"]] = client.key_authorization(challenge["token"])
    with env.database.transaction() as conn:
        conn.execute(update(acme_challenges).where(acme_challenges.c.id == challenge["url"].rsplit("/", 1)[1])
                     .values(status=Status.PROCESSING.value, processing_since=since))
    return authz_url, challenge["url"], challenge["token"]


def stored(env: AcmeEnv, challenge_url: str) -> Challenge:
    challenge = env.store.get_challenge(challenge_url.rsplit("/", 1)[1])
    assert challenge is not None
    return challenge


def wait_for(env: AcmeEnv, challenge_url: str, timeout: float = 10) -> Challenge:
    """The challenge once the validating thread has decided it (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while (challenge := stored(env, challenge_url)).status == Status.PROCESSING and time.monotonic() < deadline:
        time.sleep(0.02)
    return challenge


@pytest.mark.parametrize("age", [STALE + SECOND, None], ids=["just-stale", "unrecorded"])
def test_a_starting_server_validates_stale_challenges(env: AcmeEnv, age: datetime.timedelta | None) -> None:
    clock = FakeClock()
    client = env.account()
    authz_url, challenge_url, _ = stalled_challenge(env, client, None if age is None else clock.now() - age)
    server = AcmeServer(env.authority, env.store, AcmeSettings(validation=FAST_VALIDATION), now=clock.now)
    try:
        challenge = wait_for(env, challenge_url)
    finally:
        server.close()
    assert challenge.status == Status.VALID and challenge.validated_at == clock.now()
    assert challenge.processing_since == clock.now()  # claimed again by the starting server
    assert client.post(authz_url).json()["status"] == "valid"


def test_a_starting_server_leaves_a_validation_younger_than_its_limit(env: AcmeEnv) -> None:
    clock = FakeClock()
    client = env.account()
    since = clock.now() - STALE + SECOND
    _, challenge_url, _ = stalled_challenge(env, client, since)
    AcmeServer(env.authority, env.store, AcmeSettings(validation=FAST_VALIDATION), now=clock.now).close()
    challenge = stored(env, challenge_url)
    assert challenge.status == Status.PROCESSING and challenge.processing_since == since
    assert env.web.requests == []


def test_a_resumed_validation_is_retried_after_the_retry_delay(env: AcmeEnv) -> None:
    """The first attempt finds no answer; the retry, after the (fake) retry delay, does."""
    clock = FakeClock()
    client = env.account()
    _, challenge_url, token = stalled_challenge(env, client, None, answered=False)

    def answer_then_sleep(seconds: float) -> None:
        env.web.tokens[token] = client.key_authorization(token)
        clock.sleep(seconds)

    server = AcmeServer(env.authority, env.store, AcmeSettings(validation=FAST_VALIDATION), now=clock.now,
                        sleep=answer_then_sleep)
    try:
        challenge = wait_for(env, challenge_url)
    finally:
        server.close()
    assert challenge.status == Status.VALID
    assert clock.sleeps == [FAST_VALIDATION.retry_delay] and len(env.web.requests) == 2


def test_reading_a_stale_challenge_validates_it(env: AcmeEnv) -> None:
    client = env.account()
    authz_url, challenge_url, _ = stalled_challenge(env, client, utc_now() - HOUR)
    assert client.post(challenge_url).json()["status"] == "processing"
    assert client.poll(challenge_url)["status"] == "valid"
    assert client.post(authz_url).json()["status"] == "valid"


def test_reading_a_recent_validation_leaves_it_to_its_process(env: AcmeEnv) -> None:
    """Not claimed again (its start time stays), so nothing is queued."""
    client = env.account()
    since = utc_now() - SECOND
    _, challenge_url, _ = stalled_challenge(env, client, since)
    assert client.post(challenge_url, {}).json()["status"] == "processing"
    challenge = stored(env, challenge_url)
    assert challenge.status == Status.PROCESSING and challenge.processing_since == since
    assert env.web.requests == []


def test_migration_4_adds_the_start_time_to_an_existing_database(db_config: DbConfigFactory) -> None:
    config: dict[str, Any] = db_config()
    open_database(config).close()
    database = open_database(config)
    with database.engine.begin() as conn:  # back to a database that only had steps 1-3
        conn.execute(text("ALTER TABLE acme_challenges DROP COLUMN processing_since"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 4"))
    try:
        assert database.migrate() == [4]
        columns = [c["name"] for c in inspect(database.engine).get_columns("acme_challenges")]
        assert columns == [c.name for c in acme_challenges.columns]
    finally:
        database.close()
