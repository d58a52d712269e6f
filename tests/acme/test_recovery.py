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
from tests.acme.client import AcmeClient
from tests.acme.conftest import FAST_VALIDATION, AcmeEnv
from tests.db.conftest import DbConfigFactory, db_config, postgres_config, sqlite_config  # noqa: F401

HOUR = datetime.timedelta(hours=1)


def stalled_challenge(env: AcmeEnv, client: AcmeClient, since: datetime.datetime | None) -> tuple[str, str]:
    """An http-01 challenge, answered on the responder, left processing since ``since``
    as by a process that claimed it and died: its authorization's and its own URL."""
    authz_url = client.new_order("stuck.example.test").json()["authorizations"][0]
    challenge = next(c for c in client.post(authz_url).json()["challenges"] if c["type"] == "http-01")
    env.web.tokens[challenge["token"]] = client.key_authorization(challenge["token"])
    with env.database.transaction() as conn:
        conn.execute(update(acme_challenges).where(acme_challenges.c.id == challenge["url"].rsplit("/", 1)[1])
                     .values(status=Status.PROCESSING.value, processing_since=since))
    return authz_url, challenge["url"]


def wait_for(env: AcmeEnv, challenge_url: str, timeout: float = 10) -> Challenge:
    deadline = time.monotonic() + timeout
    while True:
        challenge = env.store.get_challenge(challenge_url.rsplit("/", 1)[1])
        assert challenge is not None
        if challenge.status != Status.PROCESSING or time.monotonic() > deadline:
            return challenge
        time.sleep(0.02)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@pytest.mark.parametrize("since", [now() - HOUR, None], ids=["an-hour-ago", "unrecorded"])
def test_a_starting_server_validates_stale_challenges(env: AcmeEnv, since: datetime.datetime | None) -> None:
    client = env.account()
    authz_url, challenge_url = stalled_challenge(env, client, since)
    server = AcmeServer(env.authority, env.store, AcmeSettings(validation=FAST_VALIDATION))
    try:
        challenge = wait_for(env, challenge_url)
    finally:
        server.close()
    assert challenge.status == Status.VALID and challenge.validated_at is not None
    assert challenge.processing_since is not None and challenge.processing_since > now() - HOUR
    assert client.post(authz_url).json()["status"] == "valid"


def test_reading_a_stale_challenge_validates_it(env: AcmeEnv) -> None:
    client = env.account()
    authz_url, challenge_url = stalled_challenge(env, client, now() - HOUR)
    assert client.post(challenge_url).json()["status"] == "processing"
    assert client.poll(challenge_url)["status"] == "valid"
    assert client.post(authz_url).json()["status"] == "valid"


def test_a_recent_validation_is_left_to_its_process(env: AcmeEnv) -> None:
    client = env.account()
    _, challenge_url = stalled_challenge(env, client, now() - datetime.timedelta(seconds=1))
    AcmeServer(env.authority, env.store, AcmeSettings(validation=FAST_VALIDATION)).close()
    client.post(challenge_url, {})
    time.sleep(0.3)
    assert wait_for(env, challenge_url, timeout=0).status == Status.PROCESSING
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
