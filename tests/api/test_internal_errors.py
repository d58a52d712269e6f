"""A genuine internal error: one traceback in the log, with the request id that the
response carries (``X-Request-Id`` and the message), in the protocol's error format
(step-ca JSON on the core API, an RFC 7807 problem document on ACME)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

import pytest
from starlette.testclient import TestClient

from appliance.api import ApiSettings, create_app
from appliance.api.middleware import AccessLog
from tests.acme.conftest import AcmeEnv, responders, start  # noqa: F401 (responders is a fixture)
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.api.conftest import GOOD_TOKEN, FakeAuthority
from tests.api.test_certificates import _csr_pem


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info]


def test_internal_error_logs_one_traceback_with_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    authority = FakeAuthority(fail=RuntimeError("database fell over"))
    # raise_server_exceptions=True: the test fails if the exception escapes the app (the server would log it again)
    client = TestClient(create_app(authority, ApiSettings()), base_url="https://ca.test")
    with caplog.at_level(logging.INFO):
        response = client.post("/sign", json={"csr": _csr_pem("a.example"), "ott": GOOD_TOKEN})
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == {"status": 500, "message": response.json()["message"]}
    assert f"request id {request_id}" in response.json()["message"]
    assert "database fell over" not in response.text
    [logged] = tracebacks(caplog)
    assert request_id in logged.getMessage() and logged.exc_info and logged.exc_info[0] is RuntimeError
    access = [r.getMessage() for r in caplog.records if r.name == "appliance.access"]
    assert len(access) == 1 and f"request_id={request_id}" in access[0] and "status=500" in access[0]


@pytest.mark.parametrize(("offered", "kept"), [
    ("abc-123.DEF", True), ("x" * 64, True), ("x" * 65, False), ("a b", False), ("a\nstatus=200", False), ("", False),
])
def test_request_id_is_taken_from_the_client_only_when_sane(offered: str, kept: bool) -> None:
    client = TestClient(create_app(FakeAuthority(), ApiSettings()), base_url="https://ca.test")
    response = client.get("/health", headers={"X-Request-Id": offered})
    assert response.status_code == 200
    assert (response.headers["x-request-id"] == offered) is kept
    assert len(response.headers["x-request-id"]) in (len(offered), 32)


@pytest.fixture
def acme(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> Iterator[AcmeEnv]:  # noqa: F811
    running = start(tmp_path, responders)
    running.http = TestClient(create_app(running.authority, acme=running.server), base_url="https://ca.test")
    yield running
    running.server.close()
    running.database.close()


def test_acme_internal_error_is_a_problem_document(acme: AcmeEnv, caplog: pytest.LogCaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injected into the ACME core: before the fix this came back as step-ca JSON."""
    def broken(*args: Any) -> Any:
        raise RuntimeError("store fell over")

    monkeypatch.setattr(acme.server, "directory", broken)
    with caplog.at_level(logging.INFO):
        response = acme.http.get(acme.directory(), headers={"X-Request-Id": "probe-1"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["x-request-id"] == "probe-1" and response.headers["Replay-Nonce"]
    body = response.json()
    assert body["type"] == "urn:ietf:params:acme:error:serverInternal" and body["status"] == 500
    assert "request id probe-1" in body["detail"] and "store fell over" not in response.text
    [logged] = tracebacks(caplog)
    assert "probe-1" in logged.getMessage() and logged.exc_info and logged.exc_info[0] is RuntimeError


def test_acme_body_over_the_limit_is_a_problem_document(acme: AcmeEnv) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):  # 2.5 MB, no Content-Length
            yield b"x" * 65536

    url = acme.directory().replace("/directory", "/new-account")
    response = acme.http.post(url, content=chunks(), headers={"content-type": "application/jose+json"})
    assert response.status_code == 413 and response.headers["Replay-Nonce"]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "urn:ietf:params:acme:error:malformed"


def test_an_error_outside_the_app_is_still_one_traceback_and_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("middleware bug")

    client = TestClient(AccessLog(broken), base_url="https://ca.test")  # raises if the exception escaped
    with caplog.at_level(logging.INFO):
        response = client.get("/version")
    assert response.status_code == 500 and response.json()["status"] == 500
    assert f"request id {response.headers['x-request-id']}" in response.json()["message"]
    assert len(tracebacks(caplog)) == 1


@pytest.mark.parametrize(("method", "resource"), [("GET", "no-such-thing"), ("POST", "order/x/y/z"),
                                                  ("GET", "new-account"), ("DELETE", "directory")])
def test_unknown_acme_resource_is_a_problem_document(acme: AcmeEnv, method: str, resource: str) -> None:
    """Was step-ca's JSON from the router's 404/405."""
    response = acme.http.request(method, acme.directory().replace("directory", resource))
    assert response.status_code == 404 and response.headers["Replay-Nonce"]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "urn:ietf:params:acme:error:malformed"
