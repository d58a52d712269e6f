"""``HotRoutes``: /sign and /renew called directly answer exactly as FastAPI's routes do
(status, step-ca error bodies, headers but the request id, access-log fields)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from appliance.api import ApiSettings, create_app
from appliance.api.hot import HotRoutes
from appliance.api.middleware import AccessLog, BodyLimit
from appliance.errors import Unavailable
from tests.api.conftest import GOOD_TOKEN, FakeAuthority
from tests.api.test_certificates import _csr_pem

CASES: list[tuple[str, dict[str, Any]]] = [
    ("/1.0/sign", {"json": {"csr": "@csr", "ott": GOOD_TOKEN}}),
    ("/sign", {"json": {"csr": "@csr", "ott": "bad token"}}),
    ("/sign", {"json": {"csr": "not a csr", "ott": GOOD_TOKEN}}),
    ("/1.0/sign", {"json": {"csr": "@csr", "ott": ""}}),
    ("/sign", {"json": {"csr": 7}}),
    ("/sign", {"content": b"{not json"}),
    ("/1.0/sign", {"content": b"x" * 2000}),  # over the body limit below
    ("/renew", {"headers": {"Authorization": f"Bearer {GOOD_TOKEN}"}}),
    ("/1.0/renew", {"headers": {"Authorization": "Bearer wrong"}}),
    ("/renew", {}),
]


def _hot(app: Any) -> HotRoutes:
    assert isinstance(app, AccessLog) and isinstance(app.app, BodyLimit) and isinstance(app.app.app, HotRoutes)
    return app.app.app


def _exchange(client: TestClient, path: str, kwargs: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
    if "json" in kwargs and kwargs["json"].get("csr") == "@csr":
        kwargs = {"json": {**kwargs["json"], "csr": _csr_pem("a.example")}}
    response = client.post(path, **kwargs)
    headers = {k: v for k, v in response.headers.items() if k not in ("x-request-id", "content-length")}
    body = response.text if response.status_code != 201 else str(sorted(response.json()))  # leaves differ per call
    return response.status_code, body, headers


@pytest.mark.parametrize(("path", "kwargs"), CASES)
@pytest.mark.parametrize("in_process", [True, False])
def test_hot_route_answers_as_the_fastapi_route(path: str, kwargs: dict[str, Any], in_process: bool,
                                                caplog: pytest.LogCaptureFixture) -> None:
    authority = FakeAuthority(signs_in_process=in_process)
    app = create_app(authority, ApiSettings(max_body_bytes=1024))
    hot = _hot(app)
    assert set(hot._routes) == {"/sign", "/1.0/sign", "/renew", "/1.0/renew"}
    outcomes, logged = [], []
    for routes in (hot._routes, {}):  # the hot routes, then none: every request through FastAPI
        hot._routes = routes
        with caplog.at_level(logging.INFO, logger="appliance.access"):
            caplog.clear()
            outcomes.append(_exchange(TestClient(app, base_url="https://ca.test"), path, kwargs))
        [line] = [r for r in caplog.records if r.name == "appliance.access"]
        logged.append({k: v for k, v in line.fields.items() if k not in ("request_id", "duration_ms", "serial")})  # type: ignore[attr-defined]
    assert outcomes[0] == outcomes[1]
    assert logged[0] == logged[1]


def test_an_unavailable_kms_is_a_503_with_retry_after() -> None:
    client = TestClient(create_app(FakeAuthority(fail=Unavailable("kms down")), ApiSettings()),
                        base_url="https://ca.test")
    response = client.post("/1.0/sign", json={"csr": _csr_pem("a.example"), "ott": GOOD_TOKEN})
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.json() == {"status": 503, "message": "kms down"}
