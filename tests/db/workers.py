"""Functions run in separate processes (spawned, as the CA's workers are)."""

from __future__ import annotations

import datetime
import random
from typing import Any

from appliance.db import open_database


def use_tokens(db_config: dict[str, Any], token_ids: list[str], start: Any, seed: int) -> list[str]:
    """Open the database, wait for every racer, try each token (in an order of
    this racer's own, so that racers collide); the ones accepted."""
    database = open_database(db_config)
    token_ids = random.Random(seed).sample(token_ids, len(token_ids))
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
    start.wait()
    try:
        return [tid for tid in token_ids if database.use_token(tid, "racer", expires)]
    finally:
        database.close()


def migrate(db_config: dict[str, Any], start: Any) -> list[int]:
    """Wait for every racer, then open (and so migrate) the database; the versions this one applied."""
    from appliance.db import migrations
    from appliance.db.engine import create_database_engine, database_url

    start.wait()
    engine = create_database_engine(database_url(db_config))
    try:
        return migrations.migrate(engine)
    finally:
        engine.dispose()


def import_provisioners(db_config: dict[str, Any], start: Any) -> bool:
    """Open the database, wait for every racer, import two provisioners as ca.json's; imported?"""
    from appliance.db.admin_store import AdminStore, ProvisionerRecord

    database = open_database(db_config)
    records = [ProvisionerRecord(f"{name}-{id(database)}", name, "JWK", {}) for name in ("one", "two")]
    start.wait()
    try:
        return AdminStore(database).import_provisioners(records, datetime.datetime.now(datetime.timezone.utc))
    finally:
        database.close()


def acme_traffic(db_config: dict[str, Any], threads: int, orders: int, start: Any) -> list[str]:
    """Open the database, wait for every racer, then from ``threads`` threads each
    register an account and create ``orders`` orders (two new authorizations each),
    using and minting a nonce per request as the server does; the errors."""
    from concurrent.futures import ThreadPoolExecutor

    from appliance.acme.sql_store import SQLAcmeStore

    store = SQLAcmeStore(open_database(db_config))
    start.wait()
    try:
        with ThreadPoolExecutor(threads) as pool:
            return [e for errors in pool.map(lambda _: _acme_client(store, orders), range(threads)) for e in errors]
    finally:
        store.close()


def _acme_client(store: Any, orders: int) -> list[str]:
    from appliance.acme.models import Account, Authorization, Challenge, ChallengeType, Identifier, Order, Status, new_id

    now = datetime.datetime.now(datetime.timezone.utc)
    later = now + datetime.timedelta(hours=1)

    def request() -> None:
        nonce = new_id()
        store.add_nonce(nonce, later)
        store.use_nonce(nonce, now)

    def authorization(account_id: str, name: str) -> Authorization:
        authz_id = new_id()
        challenge = Challenge(new_id(), authz_id, ChallengeType.HTTP_01, new_id(), Status.PENDING)
        return Authorization(authz_id, account_id, Identifier("dns", name), False, Status.PENDING, later, (challenge,))

    errors: list[str] = []
    try:
        request()
        account = store.create_account(Account(new_id(), "acme", {"kty": "EC"}, new_id(), (), Status.VALID, now))
        for _ in range(orders):
            request()
            authzs = [authorization(account.id, name) for name in ("a.test", "b.test")]
            store.create_order(Order(new_id(), account.id, "acme", Status.PENDING, later,
                                     tuple(a.identifier for a in authzs), tuple(a.id for a in authzs), now), authzs)
    except Exception as exc:  # the test reports every failure
        errors.append(f"{type(exc).__name__}: {exc}")
    return errors


def connect_each(db_configs: list[dict[str, Any]], start: Any) -> list[str]:
    """For each database in turn: wait for every racer, then connect to it; the errors."""
    from appliance.db.engine import create_database_engine, database_url

    engines = [create_database_engine(database_url(config)) for config in db_configs]
    errors: list[str] = []
    try:
        for engine in engines:
            start.wait()
            try:
                engine.connect().close()
            except Exception as exc:  # the test reports every failure
                errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        for engine in engines:
            engine.dispose()
    return errors
