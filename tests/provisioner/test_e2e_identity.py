"""Every identity provisioner type behind a running ``appliance serve``: configured
with ``appliance ca provisioner add``, certificates obtained with ``appliance ca
certificate`` (the client reads the metadata services, logs in at the OpenID
provider, signs X5C tokens), checked with ``openssl verify``; refused tokens get
step-ca's JSON errors (401, 503), never a 5xx crash. The cloud servers sign with
test keys (the real cloud roots are not exercised)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from appliance.jose import generate_jwk
from tests.cli.conftest import Client
from tests.conftest import run_openssl
from tests.e2e.harness import CA, Server, csr_pem, free_port, init_ca, new_key, start_server
from tests.provisioner.metadata_servers import AwsImds, AzureImds, GcpMetadata, aws_document, gce_instance, self_signed
from tests.provisioner.openid_provider import OpenIDProvider, signing_key
from tests.provisioner.openssl_chain import Chain, make_chain
from tests.provisioner.test_aws import AWS_KEY
from tests.provisioner.test_azure import OID, TENANT, mirid
from tests.provisioner.test_nebula import Mesh
from tests.provisioner.test_k8ssa import CLUSTER_KEY, OTHER_CLUSTER_KEY, legacy_token, public_pem

pytestmark = pytest.mark.slow
LISTEN_PORT = free_port()
CLI_CLIENT = {"client_id": "appliance-cli", "token_endpoint_auth_method": "none",
              "redirect_uris": [f"http://127.0.0.1:{LISTEN_PORT}/callback"]}


class World:
    """The CA, its client machine and every credential issuer."""

    def __init__(self, directory: Path) -> None:
        self.chain: Chain = make_chain(directory / "x5c")
        self.mesh = Mesh(directory / "mesh")
        self.mesh.host("web1.mesh")
        self.provider = OpenIDProvider(directory, [CLI_CLIENT], [signing_key("k1")],
                                       {"alice@example.com": {}}).start()
        self.aws = AwsImds(aws_document(), AWS_KEY)
        google_key, azure_key = generate_jwk("RSA"), generate_jwk("RSA")
        self.gcp = GcpMetadata(google_key, gce_instance(), "web@acme-prod.iam.gserviceaccount.com")
        self.azure = AzureImds(azure_key, TENANT, {"oid": OID, "sub": OID, "xms_mirid": mirid()})
        self.ca: CA = init_ca(directory / "server")
        self.admin = Client(directory / "admin")
        self.client = Client(directory / "client")
        self._configure(directory)
        self.server: Server = start_server(self.ca)
        self.client.ok("ca", "bootstrap", "--ca-url", self.ca.url, "--fingerprint", self.ca.fingerprint)

    def _configure(self, directory: Path) -> None:
        iid = directory / "aws-iid.pem"
        iid.write_bytes(self_signed(AWS_KEY, "ec2.amazonaws.com").public_bytes(serialization.Encoding.PEM))
        cluster = directory / "sa.pub"
        cluster.write_bytes(public_pem(CLUSTER_KEY))
        config = ("--ca-config", self.ca.ca_json)
        for args in (
            ("devices", "--type", "X5C", "--x5c-roots", self.chain.root),
            ("mesh", "--type", "Nebula", "--nebula-root", self.mesh.directory / "ca.crt"),
            ("sso", "--type", "OIDC", "--client-id", "appliance-cli", "--configuration-endpoint",
             self.provider.configuration_endpoint, "--listen-address", f"127.0.0.1:{LISTEN_PORT}"),
            ("down", "--type", "OIDC", "--client-id", "down-client", "--configuration-endpoint",
             f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"),
            ("cluster", "--type", "K8sSA", "--pem-keys", cluster),
            ("ec2", "--type", "AWS", "--iid-roots", iid),
            ("gce", "--type", "GCP", "--jwks-url", self.gcp.certs_url),
            ("azure", "--type", "Azure", "--tenant-id", TENANT, "--jwks-url", self.azure.keys_url),
        ):
            self.admin.ok("ca", "provisioner", "add", *args, *config)

    def close(self) -> None:
        self.server.stop()
        self.provider.stop()
        for server in (self.aws, self.gcp, self.azure):
            server.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("identity"))
    yield made
    made.close()


def _certificate(world: World, name: str, *args: Any) -> Path:
    crt, key = world.client.path / f"{name}.crt", world.client.path / f"{name}.key"
    world.client.ok("ca", "certificate", name, crt, key, *args)
    run_openssl("verify", "-CAfile", world.ca.root, "-untrusted", world.ca.intermediate, crt)
    return crt


def test_x5c(world: World) -> None:
    _certificate(world, "device", "--provisioner", "devices", "--x5c-cert", world.chain.bundle("device"),
                 "--x5c-key", world.chain.key("device"))


def test_nebula(world: World) -> None:
    host = world.mesh.directory / "web1.mesh"
    _certificate(world, "web1.mesh", "--provisioner", "mesh", "--nebula-cert", f"{host}.crt",
                 "--nebula-key", f"{host}.key")


def test_oidc_login_with_pkce(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI opens "the browser"; here a headless user agent logs in as alice."""
    visited: list[str] = []

    def browser(url: str) -> bool:
        visited.append(url)
        httpx.get(world.provider.browse(url, "alice@example.com"))  # the redirect reaches the CLI's loopback
        return True

    monkeypatch.setattr("webbrowser.open", browser)
    crt = _certificate(world, "alice@example.com", "--provisioner", "sso")
    assert "code_challenge_method=S256" in visited[0]
    assert "alice@example.com" in run_openssl("x509", "-in", crt, "-noout", "-ext", "subjectAltName").stdout


@pytest.mark.parametrize(("name", "args"), [
    ("i-1234567890abcdef0", ("--provisioner", "ec2")),
    ("web-1", ("--provisioner", "gce")),
    ("web-1.azure", ("--provisioner", "azure")),
])
def test_cloud_instances(world: World, name: str, args: tuple[str, ...]) -> None:
    server = {"ec2": world.aws, "gce": world.gcp, "azure": world.azure}[args[1]]
    _certificate(world, name, *args, "--metadata-url", server.url)


def test_k8ssa_token(world: World) -> None:
    mounted = world.client.path / "serviceaccount-token"
    mounted.write_text(legacy_token(account="api") + "\n")
    _certificate(world, "api", "--provisioner", "cluster", "--k8ssa-token-path", mounted)
    _certificate(world, "worker", "--token", legacy_token(account="worker"))


def _post_sign(world: World, token: str, name: str = "device") -> httpx.Response:
    with world.ca.client() as http:
        return http.post("/1.0/sign", json={"csr": csr_pem(name, new_key()), "ott": token})


def test_refusals_are_steps_json_errors(world: World) -> None:
    rows = world.ca.rows()
    token = legacy_token(namespace="batch")
    assert _post_sign(world, token, "api").status_code == 201
    replay = _post_sign(world, token, "api")
    assert replay.status_code == 401 and replay.json() == {"status": 401, "message": "token already used"}
    other = legacy_token(key=OTHER_CLUSTER_KEY)
    refused = _post_sign(world, other, "api")
    assert refused.status_code == 401 and "not signed by a key of the cluster" in refused.json()["message"]
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": "x"}).encode()).rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(json.dumps({"aud": "down-client", "iss": "x"}).encode()).rstrip(b"=").decode()
    down = _post_sign(world, f"{header}.{claims}.c2ln")
    assert down.status_code == 503 and "cannot reach" in down.json()["message"]
    assert world.ca.rows()["certificates"] == rows["certificates"] + 1
