"""``appliance ca admin|provisioner|policy|acme eab`` against a real ``appliance serve``
set up by ``appliance init --remote-management`` (SQLite, two workers): the first start
made ``step`` the super admin of the first provisioner; admin certificates come from
files or are asked of the CA with a JWK token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.cli.conftest import Client, bootstrap
from tests.e2e.harness import Server, init_ca, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(init_ca(tmp_path_factory.mktemp("remote-ca"), "--remote-management")) as running:
        yield running


def test_admins_provisioners_policies_and_eab_keys_over_the_admin_api(
        client: Client, remote: Server, tmp_path: Path) -> None:
    bootstrap(client, remote.ca)
    jwk = ("--admin-provisioner", "admin", "--admin-password-file", remote.ca.password_file)
    assert client.ok("ca", "admin", "list", *jwk).output.split("\t")[:3] == ["step", "admin", "SUPER_ADMIN"]

    client.ok("ca", "provisioner", "add", "acme", "--type", "ACME", "--require-eab", *jwk)
    listed = json.loads(client.ok("ca", "provisioner", "list", *jwk).output)
    assert [(p["name"], p.get("requireEAB")) for p in listed] == [("admin", None), ("acme", True)]
    client.ok("ca", "provisioner", "update", "acme", "--x509-default-dur", "2h", *jwk)
    assert json.loads(client.ok("ca", "provisioner", "list", *jwk).output)[1]["claims"] == {
        "defaultTLSCertDuration": "2h"}

    created = json.loads(client.ok("ca", "acme", "eab", "add", "acme", "--reference", "web-1", *jwk).output)
    assert created["reference"] == "web-1" and created["hmacKey"]
    found = json.loads(client.ok("ca", "acme", "eab", "list", "acme", "--reference", "web-1", *jwk).output)
    assert [k["keyID"] for k in found] == [created["keyID"]] and "hmacKey" not in found[0]
    account_policy = tmp_path / "account.json"
    account_policy.write_text(json.dumps({"x509": {"allow": {"dns": ["web-1.example.com"]}}}))
    client.ok("ca", "policy", "set", account_policy, "--provisioner", "acme", "--eab-reference", "web-1", *jwk)
    assert json.loads(client.ok("ca", "policy", "view", "--provisioner", "acme", "--eab-key-id", created["keyID"],
                                *jwk).output) == {"x509": {"allow": {"dns": ["web-1.example.com"]}}}
    client.ok("ca", "acme", "eab", "remove", "acme", "--key-id", created["keyID"], *jwk)

    # an admin certificate in files (``ca certificate`` through the JWK provisioner)
    crt, key = tmp_path / "alice.crt", tmp_path / "alice.key"
    client.ok("ca", "admin", "add", "alice", "admin", *jwk)
    client.ok("ca", "certificate", "alice", crt, key, "--provisioner", "admin",
              "--password-file", remote.ca.password_file)
    alice = ("--admin-cert", crt, "--admin-key", key)
    assert "super admin" in client.fails("ca", "admin", "add", "mallory", "admin", *alice)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"x509": {"allow": {"dns": ["*.example.com"]}}}))
    client.ok("ca", "policy", "set", policy, "--provisioner", "acme", *alice)
    assert json.loads(client.ok("ca", "policy", "view", "--provisioner", "acme", *alice).output) == {
        "x509": {"allow": {"dns": ["*.example.com"]}}}
    assert "lock out admin" in client.fails("ca", "policy", "set", policy, *alice)  # the authority's
    policy.write_text(json.dumps({"x509": {"allow": {"dns": ["*.example.com", "step", "alice"]}}}))
    client.ok("ca", "policy", "set", policy, *alice)
    assert json.loads(client.ok("ca", "policy", "view", *alice).output) == {
        "x509": {"allow": {"dns": ["*.example.com", "step", "alice"]}}}
    client.ok("ca", "policy", "remove", *alice)
    added = client.ok("ca", "provisioner", "webhook", "add", "acme", "people", "--url", "https://hooks.test/p",
                      *alice).output
    assert "Webhook ID: " in added and "Signing Secret: " in added
    client.ok("ca", "provisioner", "webhook", "update", "acme", "people", "--kind", "AUTHORIZING", *alice)
    hooks = json.loads(client.ok("ca", "provisioner", "list", *alice).output)[1]["options"]["webhooks"]
    assert [(h["name"], h["url"], h["kind"]) for h in hooks] == [("people", "https://hooks.test/p", "AUTHORIZING")]
    client.ok("ca", "provisioner", "webhook", "remove", "acme", "people", *alice)
    client.ok("ca", "admin", "update", "alice", "--super", *jwk)
    client.ok("ca", "admin", "add", "bob", "admin", *alice)
    client.ok("ca", "admin", "remove", "bob", *alice)
    subjects = [line.split("\t")[0] for line in client.ok("ca", "admin", "list", *alice).output.splitlines()]
    assert subjects == ["step", "alice"]
    client.ok("ca", "provisioner", "remove", "acme", *alice)
    assert "not found" in client.fails("ca", "policy", "view", "--provisioner", "acme", *alice)
