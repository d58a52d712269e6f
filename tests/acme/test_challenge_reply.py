"""The challenge request waits (a bounded time, without blocking the server) for the
first validation attempt, so that a quick validation is answered valid or invalid at
once and clients such as lego need not sleep Retry-After before polling."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from appliance.acme import AcmeSettings
from tests.acme.client import AcmeClient
from tests.acme.conftest import FAST_VALIDATION, AcmeEnv, start
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer

WAIT = 0.5


@pytest.fixture
def env(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> Iterator[AcmeEnv]:
    """One validation attempt (so a wrong answer is final), a short wait for it."""
    settings = AcmeSettings(challenge_wait=WAIT, validation=dataclasses.replace(FAST_VALIDATION, attempts=1))
    running = start(tmp_path, responders, settings=settings)
    yield running
    running.server.close()
    running.database.close()


def http_challenge(env: AcmeEnv, name: str = "www.example.test") -> tuple[AcmeClient, dict[str, Any], str]:
    """A registered client, its order's http-01 challenge and the authorization URL."""
    client = env.account()
    authz_url = client.new_order(name).json()["authorizations"][0]
    authz = client.post(authz_url).json()
    return client, next(c for c in authz["challenges"] if c["type"] == "http-01"), authz_url


def test_a_quick_validation_is_valid_in_the_challenge_reply(env: AcmeEnv) -> None:
    client, challenge, authz_url = http_challenge(env)
    env.web.tokens[challenge["token"]] = client.key_authorization(challenge["token"])
    response = client.post(challenge["url"], {})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "valid"
    assert "validated" in response.json()
    assert "Retry-After" not in response.headers
    assert client.post(authz_url).json()["status"] == "valid"


def test_a_wrong_answer_is_invalid_in_the_challenge_reply(env: AcmeEnv) -> None:
    client, challenge, _ = http_challenge(env)
    env.web.tokens[challenge["token"]] = "not the key authorization"
    body = client.post(challenge["url"], {}).json()
    assert body["status"] == "invalid"
    assert body["error"]["type"] == "urn:ietf:params:acme:error:incorrectResponse"


def test_a_slow_responder_gets_processing_within_the_bound(env: AcmeEnv) -> None:
    client, challenge, _ = http_challenge(env)
    env.web.tokens[challenge["token"]] = client.key_authorization(challenge["token"])
    env.web.delay = FAST_VALIDATION.timeout / 2  # answers, but after the wait
    began = time.monotonic()
    response = client.post(challenge["url"], {})
    elapsed = time.monotonic() - began
    assert response.json()["status"] == "processing"
    assert response.headers["Retry-After"] == "1"
    assert WAIT <= elapsed < WAIT + 0.5
    assert client.poll(challenge["url"])["status"] == "valid"
