"""``appliance ca provisioner add|update`` for the identity types: step's flags become
ca.json members the CA loads; flags of another type are refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from appliance.config import load_config
from tests.ca_fixtures import TestCA, build_ca
from tests.cli.conftest import Client
from tests.provisioner.openssl_chain import Chain, make_chain


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(tmp_path / "client")


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return build_ca(tmp_path / "ca")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return make_chain(tmp_path_factory.mktemp("cli-x5c"))


def _entry(ca: TestCA, name: str) -> dict:
    (entry,) = [p for p in json.loads(ca.config_path.read_text())["authority"]["provisioners"] if p["name"] == name]
    return entry


def test_add_x5c_with_roots(client: Client, ca: TestCA, chain: Chain) -> None:
    client.ok("ca", "provisioner", "add", "devices", "--type", "X5C", "--x5c-roots", chain.root,
              "--x509-default-dur", "1h", "--ca-config", ca.config_path)
    entry = _entry(ca, "devices")
    assert entry["type"] == "X5C" and base64.b64decode(entry["roots"]) == chain.root.read_bytes()
    assert entry["claims"] == {"defaultTLSCertDuration": "1h"}
    load_config(ca.config_path)


def test_x5c_needs_roots_and_refuses_other_types_flags(client: Client, ca: TestCA, chain: Chain) -> None:
    before = ca.config_path.read_bytes()
    assert "--x5c-roots" in client.fails("ca", "provisioner", "add", "d", "--type", "X5C", "--ca-config", ca.config_path)
    assert "--client-id" in client.fails("ca", "provisioner", "add", "d", "--type", "X5C", "--x5c-roots", chain.root,
                                         "--client-id", "abc", "--ca-config", ca.config_path)
    assert ca.config_path.read_bytes() == before


def test_add_oidc_with_steps_flags(client: Client, ca: TestCA) -> None:
    client.ok("ca", "provisioner", "add", "sso", "--type", "OIDC", "--client-id", "appliance",
              "--configuration-endpoint", "https://idp.test/.well-known/openid-configuration",
              "--admin", "root@example.com", "--domain", "example.com", "--domain", "example.org",
              "--acr-value", "urn:mfa", "--listen-address", "127.0.0.1:10000", "--ca-config", ca.config_path)
    entry = _entry(ca, "sso")
    assert entry == {"type": "OIDC", "name": "sso", "clientID": "appliance",
                     "configurationEndpoint": "https://idp.test/.well-known/openid-configuration",
                     "admins": ["root@example.com"], "domains": ["example.com", "example.org"],
                     "acrValues": ["urn:mfa"], "listenAddress": "127.0.0.1:10000"}
    assert "--configuration-endpoint" in client.fails("ca", "provisioner", "add", "sso2", "--type", "OIDC",
                                                      "--client-id", "x", "--ca-config", ca.config_path)


def test_add_k8ssa_with_pem_keys(client: Client, ca: TestCA, tmp_path: Path) -> None:
    from tests.provisioner.test_k8ssa import CLUSTER_KEY, public_pem

    keys = tmp_path / "sa.pub"
    keys.write_bytes(public_pem(CLUSTER_KEY))
    client.ok("ca", "provisioner", "add", "cluster", "--type", "K8sSA", "--pem-keys", keys, "--ca-config", ca.config_path)
    entry = _entry(ca, "cluster")
    assert entry["type"] == "K8sSA" and base64.b64decode(entry["publicKeys"]) == keys.read_bytes()
