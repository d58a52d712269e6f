"""Bad SSH sign requests: step-ca's status, a clear message, nothing issued, token not spent."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import dsa, ed25519, rsa

from appliance.sshcert import key_blob
from tests.ssh.conftest import SshCA


def _issued(ssh_ca: SshCA) -> int:
    store = ssh_ca.authority.ssh.store  # type: ignore[union-attr]
    return len(store.certificates("user", ssh_ca.clock.now())) + len(store.certificates("host", ssh_ca.clock.now()))


def _body(ssh_ca: SshCA, **changes: Any) -> dict[str, Any]:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    ssh = {"certType": "user", "keyID": "alice", "principals": ["alice"]}
    body = {"publicKey": base64.b64encode(key_blob(key)).decode(), "ott": ssh_ca.token("alice", ssh=ssh),
            "certType": "user", "keyID": "alice", "principals": ["alice"]}
    body.update(changes)
    return body


def _dsa_blob() -> str:
    import struct
    key = dsa.generate_private_key(1024).public_key().public_numbers()
    parts = [b"ssh-dss", *(n.to_bytes((n.bit_length() + 8) // 8, "big") for n in
                           (key.parameter_numbers.p, key.parameter_numbers.q, key.parameter_numbers.g, key.y))]
    return base64.b64encode(b"".join(struct.pack(">I", len(p)) + p for p in parts)).decode()


CASES: list[tuple[str, Callable[[SshCA], dict[str, Any]], int, str]] = [
    ("malformed publicKey", lambda c: _body(c, publicKey=base64.b64encode(b"\x00\x00\x00\x07ssh-rsa junk").decode()),
     400, "error parsing publicKey"),
    ("publicKey not base64", lambda c: _body(c, publicKey="!!!"), 400, "error parsing publicKey"),
    ("missing publicKey", lambda c: _body(c, publicKey=""), 400, "missing or empty publicKey"),
    ("missing ott", lambda c: _body(c, ott=""), 400, "missing or empty ott"),
    ("DSA key", lambda c: _body(c, publicKey=_dsa_blob()), 400, "unsupported key type"),
    ("RSA 1024", lambda c: _body(c, publicKey=base64.b64encode(key_blob(
        rsa.generate_private_key(65537, 1024).public_key())).decode()), 400, "at least 2048 bits"),
    ("invalid certType", lambda c: _body(c, certType="root"), 400, "invalid certType"),
    ("certType not the token's", lambda c: _body(c, certType="host"), 403, "type does not match"),
    ("principals not the token's", lambda c: _body(c, principals=["root"]), 403, "principals does not match"),
    ("validity beyond the claims", lambda c: _body(c, validBefore="48h"), 403, "more than maximum"),
    ("validity below the claims", lambda c: _body(c, validBefore="1m"), 403, "less than minimum"),
    ("validBefore in the past", lambda c: _body(c, validAfter="-3h", validBefore="-2h"), 400, "in the past"),
    ("token for /sign", lambda c: _body(c, ott=c.token("alice", endpoint="sign",
                                                          ssh={"certType": "user"})), 401, "audience"),
    ("token without step.ssh", lambda c: _body(c, ott=c.token("alice")), 401, "not an SSH provisioning token"),
    ("token signed by another key", lambda c: _body(c, ott=c.token("alice", ssh={}, iss="nobody")), 401, ""),
    ("garbage token", lambda c: _body(c, ott="a.b.c"), 401, ""),
]


@pytest.mark.parametrize("name,body,status,message", CASES, ids=[case[0] for case in CASES])
def test_refused_and_nothing_issued(ssh_ca: SshCA, name: str, body: Callable[[SshCA], dict[str, Any]],
                                    status: int, message: str) -> None:
    response = ssh_ca.client.post("/ssh/sign", content=json.dumps(body(ssh_ca)))
    assert response.status_code == status, response.text
    assert response.json()["status"] == status
    assert message in response.json()["message"]
    assert _issued(ssh_ca) == 0


def test_principals_outside_policy(make_ssh_ca) -> None:  # type: ignore[no-untyped-def]
    ssh_ca = make_ssh_ca(authority={"policy": {"ssh": {"user": {"allow": {"principal": ["alice"]}},
                                                       "host": {"allow": {"dns": ["*.internal"]}}}}})
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    assert ssh_ca.sign(key, "alice").status_code == 201
    refused = ssh_ca.sign(key, "root")
    assert refused.status_code == 403 and "principal 'root' is not allowed" in refused.json()["message"]
    host = ssh_ca.sign(key, "web.example.com", ssh={"certType": "host", "principals": ["web.example.com"]})
    assert host.status_code == 403 and "web.example.com" in host.json()["message"]
    assert ssh_ca.sign(key, "db.internal", ssh={"certType": "host", "principals": ["db.internal"]}).status_code == 201
    assert _issued(ssh_ca) == 2


def test_provisioner_without_ssh(make_ssh_ca) -> None:  # type: ignore[no-untyped-def]
    ssh_ca = make_ssh_ca(provisioner={"claims": {"enableSSHCA": False}})
    response = ssh_ca.sign(ed25519.Ed25519PrivateKey.generate().public_key())
    assert response.status_code == 401 and "sshCA is disabled" in response.json()["message"]


def test_replayed_token(ssh_ca: SshCA) -> None:
    body = _body(ssh_ca)
    assert ssh_ca.client.post("/ssh/sign", content=json.dumps(body)).status_code == 201
    again = ssh_ca.client.post("/ssh/sign", content=json.dumps(body))
    assert again.status_code == 401 and "token already used" in again.json()["message"]
    assert _issued(ssh_ca) == 1


def test_no_ssh_section(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from appliance.api import create_app
    from appliance.authority.authority import Authority
    from appliance.db import open_database
    from tests.ca_fixtures import build_ca
    ca = build_ca(tmp_path)
    config = ca.config()
    authority = Authority.from_config(config, open_database(config.db), password=ca.password)
    try:
        client = TestClient(create_app(authority), base_url="https://ca.test")
        response = client.get("/ssh/roots")
        assert response.status_code == 400 and "no 'ssh' section" in response.json()["message"]
    finally:
        authority.close()
        authority.database.close()
