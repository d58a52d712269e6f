"""azurekms against a local HTTPS wire-protocol test double of Key Vault's REST API
(tests/kms/fakes/azure_keyvault_server.py), driven by the real azure-keyvault-keys
client and azure-identity's DefaultAzureCredential (App Service managed identity)."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from appliance.errors import ErrorKind
from appliance.kms import KeyType, open_key_manager
from appliance.kms.azurekms import AzureKMS, azure_errors
from appliance.kms.errors import (
    InvalidKmsUri,
    KeyNotFound,
    KmsAuthenticationFailed,
    KmsError,
    UnsupportedKeyOperation,
)
from tests.conftest import APPLIANCE, run_openssl
from tests.kms.artefacts import self_signed_ca, verify_artefacts
from tests.kms.fakes.azure_keyvault_server import KeyVaultServer



@pytest.fixture
def server(keyvault: KeyVaultServer) -> KeyVaultServer:
    return keyvault


@pytest.fixture
def kms_uri(server: KeyVaultServer) -> str:
    return f"azurekms:vault-url={server.url}"


@pytest.fixture
def manager(kms_uri: str) -> Iterator[AzureKMS]:
    with open_key_manager(kms_uri) as opened:
        assert isinstance(opened, AzureKMS)
        yield opened


def _name(request: pytest.FixtureRequest) -> str:
    return "k-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]


def test_bearer_challenge_then_token(server: KeyVaultServer, manager: AzureKMS, request: pytest.FixtureRequest) -> None:
    from azure.keyvault.keys._shared import http_challenge_cache  # the SDK caches challenges per vault

    http_challenge_cache.clear()
    start = len(server.requests)
    manager.create_key(f"azurekms:name={_name(request)}", KeyType.EC_P256)
    seen = server.requests[start:]
    assert seen[0][2:] == (401, False)  # no token before the challenge
    assert all(bearer for method, path, status, bearer in seen[1:] if path.startswith("/keys/"))
    assert ("POST", f"/keys/{_name(request)}/create", 200, True) in seen


@pytest.mark.parametrize("key_type", [KeyType.RSA_3072, KeyType.RSA_4096], ids=lambda t: t.name)
def test_created_uri_names_the_version_and_large_rsa_keys(
    key_type: KeyType, manager: AzureKMS, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    created = manager.create_key(f"azurekms:name={name};hsm=true", key_type)
    assert created.uri.startswith(f"azurekms:name={name};hsm=true;version=")
    assert KeyType.of(created.public_key) is key_type
    assert manager.get_public_key(f"azurekms:name={name}") == created.public_key
    assert manager.get_public_key(created.uri) == created.public_key
    verify_artefacts(manager.create_signer(created.uri), tmp_path)


def test_pss_certificate_verifies_with_openssl(manager: AzureKMS, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    signer = manager.create_signer(manager.create_key(f"azurekms:name={_name(request)}", KeyType.RSA_2048).uri)
    ca = self_signed_ca(signer, pss=True)
    assert isinstance(ca.signature_algorithm_parameters, padding.PSS)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    run_openssl("verify", "-CAfile", tmp_path / "ca.pem", tmp_path / "ca.pem")
    assert "Salt Length: 0x20" in run_openssl("x509", "-in", tmp_path / "ca.pem", "-noout", "-text").stdout


def test_create_refuses_an_existing_name_unless_a_new_version_is_asked(
    manager: AzureKMS, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    first = manager.create_key(f"azurekms:name={name}", KeyType.EC_P256)
    with pytest.raises(KmsError, match="exists: refusing to replace it") as excinfo:
        manager.create_key(f"azurekms:name={name}", KeyType.EC_P256)
    assert excinfo.value.kind is ErrorKind.CONFLICT
    second = manager.create_key(f"azurekms:name={name};new-version=true", KeyType.EC_P256)
    assert second.uri != first.uri and second.public_key != first.public_key
    assert manager.get_public_key(first.uri) == first.public_key  # a version pins the key
    assert manager.get_public_key(f"azurekms:name={name}") == second.public_key


def test_unknown_key_forbidden_and_revoked_token(server: KeyVaultServer, manager: AzureKMS) -> None:
    with pytest.raises(KeyNotFound, match=r"^azurekms: get key absent: A key with \(name/id\) absent was not found.*\(KeyNotFound\)$"):
        manager.get_public_key("azurekms:name=absent")
    with pytest.raises(KmsAuthenticationFailed, match=r"not authorized.*\(Forbidden\)$"):
        manager.create_signer("azurekms:name=forbidden-key")
    server.revoke_tokens()  # the vault now rejects the token the credential holds: 401
    with pytest.raises(KmsAuthenticationFailed, match="azurekms: get key absent"):
        manager.get_public_key("azurekms:name=absent")


def test_refuses_what_the_key_cannot_do(server: KeyVaultServer, manager: AzureKMS, request: pytest.FixtureRequest) -> None:
    server.create("verify-only", {"kty": "EC", "crv": "P-256", "key_ops": ["verify"]})
    with pytest.raises(UnsupportedKeyOperation, match="does not allow 'sign'"):
        manager.create_signer("azurekms:name=verify-only")
    signer = manager.create_signer(manager.create_key(f"azurekms:name={_name(request)}", KeyType.EC_P384).uri)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    with pytest.raises(UnsupportedKeyOperation, match="signs only SHA-384"):
        signer.sign(b"data", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(UnsupportedKeyOperation, match="cannot create ED25519"):
        manager.create_key("azurekms:name=ed", KeyType.ED25519)


def test_uri_options_choose_the_cloud_and_the_credential() -> None:
    china = "azurekms:vault=v;environment=AzureChinaCloud;client-id=app;tenant-id=t;client-secret=s3cret"
    with open_key_manager(china) as manager:
        assert isinstance(manager, AzureKMS)
        client = manager._client(manager.uri)
        assert client.vault_url == "https://v.vault.azure.cn"
        assert isinstance(manager._credentials[0], ClientSecretCredential)
    with pytest.raises(InvalidKmsUri, match="needs client-id and tenant-id"):
        open_key_manager("azurekms:vault=v;client-secret=s").get_public_key("azurekms:name=k")
    with pytest.raises(InvalidKmsUri, match="unknown environment"):
        open_key_manager("azurekms:vault=v;environment=Mars").get_public_key("azurekms:name=k")
    with pytest.raises(InvalidKmsUri, match="'vault'"):
        open_key_manager("azurekms:").get_public_key("azurekms:name=k")


@pytest.mark.parametrize(("kty", "alg", "sigopts"), [
    ("EC", "ES256", []),
    ("RSA", "PS256", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]),
])
def test_cli_create_key_sign_verifies_with_openssl(
    kms_uri: str, tmp_path: Path, request: pytest.FixtureRequest, kty: str, alg: str, sigopts: list[str]
) -> None:
    key = f"azurekms:name={_name(request)}"

    def run(*args: str) -> bytes:
        return subprocess.run([APPLIANCE, "kms", *args, "--kms", kms_uri], capture_output=True, check=True, env=os.environ).stdout

    pem = run("create", key, "--kty", kty, "--size", "2048")
    assert run("key", key) == pem
    (tmp_path / "pub.pem").write_bytes(pem)
    (tmp_path / "data").write_bytes(b"sign me")
    (tmp_path / "sig").write_bytes(base64.b64decode(run("sign", key, "--alg", alg, "--in", str(tmp_path / "data"))))
    run_openssl("dgst", "-sha256", "-verify", tmp_path / "pub.pem", *sigopts, "-signature", tmp_path / "sig", tmp_path / "data")


def test_cli_reports_an_unknown_key_in_one_line(kms_uri: str) -> None:
    result = subprocess.run([APPLIANCE, "kms", "key", "azurekms:name=absent", "--kms", kms_uri], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: azurekms: get key absent: A key with (name/id) absent was not found in this key vault. (KeyNotFound)"
    ]


def test_credential_failures_are_authentication_errors() -> None:
    failure = "DefaultAzureCredential failed to retrieve a token from the included credentials.\nAttempted credentials: ..."
    with pytest.raises(KmsAuthenticationFailed, match=r"^azurekms: get key k: DefaultAzureCredential failed to retrieve a token from the included credentials\.$"):
        with azure_errors("get key k"):
            raise ClientAuthenticationError(message=failure)
