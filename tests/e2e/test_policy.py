"""Name policy in ca.json, over HTTPS: a /sign for a name the policy refuses gets
403 with the name and the rule, and leaves nothing behind."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from tests.e2e.harness import Server, csr_pem, init_ca, new_key, running_server, token

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def policy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ca = init_ca(tmp_path_factory.mktemp("policy"))
    data = ca.data()
    data["authority"]["policy"] = {"x509": {"allow": {"dns": ["*.example.test"]}}}
    data["authority"]["provisioners"][0]["policy"] = {"x509": {"deny": {"dns": ["db.example.test"]}}}
    ca.write(data)
    with running_server(ca, workers=1) as running:
        yield running


def sign(server: Server, name: str) -> tuple[int, dict[str, object]]:
    body = {"csr": csr_pem(name, new_key(), (name,)), "ott": token(server.ca, name)}
    with server.ca.client() as client:
        response = client.post("/sign", content=json.dumps(body), headers={"content-type": "application/json"})
    return response.status_code, response.json()


def test_allowed_name_is_signed(policy_server: Server) -> None:
    status, body = sign(policy_server, "www.example.test")
    assert status == 201, body


@pytest.mark.parametrize("name,reason", [
    ("www.other.test", "dns name 'www.other.test' is not allowed by any rule of the authority policy"),
    ("db.example.test", "dns name 'db.example.test' is denied by rule 'db.example.test' "
                        "of the policy of provisioner 'admin'"),
])
def test_refused_name_is_forbidden_and_records_nothing(policy_server: Server, name: str, reason: str) -> None:
    before = policy_server.ca.rows()
    status, body = sign(policy_server, name)
    assert (status, body) == (403, {"status": 403, "message": reason})
    assert policy_server.ca.rows() == before
