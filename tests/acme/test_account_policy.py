"""step-ca's ACME account policy (set over the admin API on the EAB key that binds an
account): the account's new orders for names outside it are refused, others are not."""

from __future__ import annotations

import datetime
from pathlib import Path

from appliance.acme.models import EabKey
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.acme.conftest import start
from tests.acme.test_accounts import binding
from tests.acme.test_bad_requests import assert_problem, unchanged


def test_an_account_policy_refuses_the_names_outside_it(
        tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> None:
    env = start(tmp_path, responders, requireEAB=True)
    try:
        env.store.add_eab_key(EabKey("acme", "kid-1", b"k" * 32, datetime.datetime.now(datetime.timezone.utc),
                                     policy={"x509": {"allow": {"dns": ["*.allowed.test"]}}}))
        client = env.client()
        assert client.register(externalAccountBinding=binding(client, "kid-1", b"k" * 32)).status_code == 201
        refused = unchanged(env, lambda: client.new_order("www.allowed.test", "www.other.test"))
        assert_problem(refused, "rejectedIdentifier", 403)
        assert "ACME account policy" in refused.text and "www.other.test" in refused.text
        assert client.new_order("www.allowed.test").status_code == 201
        env.store.set_eab_policy("acme", "kid-1", None)
        assert client.new_order("www.other.test").status_code == 201
    finally:
        env.server.close()
        env.database.close()
