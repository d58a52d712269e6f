"""The retention job of ``appliance serve``: with ``db.retention`` at 1 s, expired
used tokens and ACME nonces written while it runs are purged; live ones stay."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.db import open_database
from appliance.acme.sql_store import SQLAcmeStore
from tests.e2e.harness import init_ca, start_server

pytestmark = pytest.mark.slow
PURGE_TIMEOUT = 20.0


def test_serve_purges_expired_tokens_and_nonces(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    data = ca.data()
    data["db"]["retention"] = "1s"
    ca.write(data)
    server = start_server(ca, workers=1)
    try:
        now = datetime.datetime.now(datetime.timezone.utc)
        database = open_database(load_config(ca.ca_json, report=False).db)
        try:
            for name, expires in (("expired", now - datetime.timedelta(minutes=5)),
                                  ("live", now + datetime.timedelta(minutes=5))):
                assert database.use_token(name, "admin", expires)
                SQLAcmeStore(database).add_nonce(name, expires)
        finally:
            database.close()
        deadline = time.monotonic() + PURGE_TIMEOUT
        while (ca.query("SELECT nonce FROM acme_nonces"), ca.query("SELECT token_id FROM used_tokens")) != (
                [("live",)], [("live",)]):
            assert time.monotonic() < deadline, f"expired rows not purged:\n{server.log()}"
            time.sleep(0.2)
        assert "retention: deleted expired used_tokens" in server.log()
    finally:
        server.stop()
