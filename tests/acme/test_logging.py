"""What the server's logging (``configure_logging``, used by every worker) lets
through while it validates: never the challenge token."""

from __future__ import annotations

import io
import logging
from typing import Iterator

import pytest

from appliance.server.logs import configure_logging
from tests.acme.conftest import AcmeEnv


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    """The server's logging configuration, its root output captured; restored afterwards."""
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    saved = root.handlers[:], root.level, httpx_logger.level
    configure_logging()
    output = io.StringIO()
    root.handlers[0].setStream(output)  # type: ignore[attr-defined]
    yield output
    root.handlers[:], root.level = saved[0], saved[1]
    httpx_logger.setLevel(saved[2])


def test_validations_do_not_log_the_token(env: AcmeEnv, server_log: io.StringIO) -> None:
    """One http-01 validation that succeeds, one that fails (logged per attempt)."""
    client = env.account()
    for name, answer_right in (("good.example.test", True), ("bad.example.test", False)):
        authz = client.post(client.new_order(name).json()["authorizations"][0]).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        token = challenge["token"]
        env.web.tokens[token] = client.key_authorization(token) if answer_right else "wrong"
        client.post(challenge["url"], {})
        assert client.poll(challenge["url"])["status"] == ("valid" if answer_right else "invalid")
        assert any(token in path for path in env.web.requests)
        assert token not in server_log.getvalue()
    assert "attempt 1: http://" in server_log.getvalue()  # the failure is logged, without the token
