"""Oversized bodies are refused without buffering; one access-log line per request, no secrets."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Iterator

import pytest
from starlette.testclient import TestClient
from starlette.types import Message

from appliance.api import ApiSettings, create_app
from appliance.api.middleware import format_line
from tests.api.conftest import GOOD_TOKEN, MAX_BODY, FakeAuthority
from tests.api.test_certificates import _csr_pem


def test_declared_oversized_body_is_413_before_reading(authority: FakeAuthority) -> None:
    app = create_app(authority, ApiSettings(max_body_bytes=MAX_BODY))
    received: list[Message] = []
    sent: list[Message] = []
    scope = {"type": "http", "method": "POST", "path": "/sign", "headers": [(b"content-length", b"10485760")],
             "query_string": b"", "root_path": "", "scheme": "https", "http_version": "1.1", "client": None}

    async def receive() -> Message:
        received.append({})
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert received == []
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["status"] == 413
    assert authority.calls == []


def test_streamed_oversized_body_is_refused(client: TestClient, authority: FakeAuthority) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10 * 16):  # 10 MB in 64 KiB chunks, no Content-Length
            yield b"x" * 65536

    response = client.post("/sign", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code in (400, 413)
    assert authority.calls == []


def test_one_log_line_per_request_without_the_token(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="appliance.access"):
        client.post("/sign", json={"csr": _csr_pem("log.example"), "ott": GOOD_TOKEN})
        client.post("/sign", json={"csr": _csr_pem(), "ott": GOOD_TOKEN + "x"})
    lines = [r.getMessage() for r in caplog.records if r.name == "appliance.access"]
    assert len(lines) == 2
    assert "status=201" in lines[0] and "provisioner=admin" in lines[0] and "subject=log.example" in lines[0]
    assert "serial=" in lines[0] and "outcome=ok" in lines[0] and "duration_ms=" in lines[0]
    assert "status=401" in lines[1] and "outcome=error" in lines[1] and 'error="invalid token"' in lines[1]
    assert not any(GOOD_TOKEN.split(".")[1] in line for line in lines)


def test_access_fields_for_the_json_format(authority: FakeAuthority, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(authority, ApiSettings()))
    with caplog.at_level(logging.INFO, logger="appliance.access"):
        client.get("/health")
    record = next(r.fields for r in caplog.records if r.name == "appliance.access")  # type: ignore[attr-defined]
    assert record["path"] == "/health" and record["status"] == 200 and record["outcome"] == "ok"


def test_text_values_are_quoted_when_needed() -> None:
    assert format_line({"a": "x y", "b": 1, "c": "", "d": "x\nstatus=200"}) == \
        'a="x y" b=1 c="" d="x\\nstatus=200"'
