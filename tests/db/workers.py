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
