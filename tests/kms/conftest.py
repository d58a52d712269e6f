"""The local counterparts of the cloud backends, shared by their own tests and the contract suite."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.kms.fakes.azure_keyvault_server import KeyVaultServer
from tests.kms.fakes.cloudkms_server import FakeCloudKms
from tests.kms.fakes.moto_kms import moto_server


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy credentials in the environment; no real AWS config is read."""
    empty = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_CONFIG_FILE", str(empty))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_SESSION_TOKEN"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def moto_endpoint(aws_env: None) -> Iterator[str]:
    """A (patched) moto_server on loopback: AWS KMS for boto3."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def keyvault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyVaultServer]:
    """The Key Vault test double, trusted through REQUESTS_CA_BUNDLE, with a managed identity endpoint."""
    with KeyVaultServer(tmp_path_factory.mktemp("keyvault")) as running, pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", str(running.ca_file))
        mp.setenv("IDENTITY_ENDPOINT", f"{running.url}/msi/token")
        mp.setenv("IDENTITY_HEADER", running.identity_header)
        for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST",
                     "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT", "MSI_SECRET"):
            mp.delenv(name, raising=False)
        yield running


@pytest.fixture(scope="session")
def cloudkms_fake() -> Iterator[FakeCloudKms]:
    """The Cloud KMS gRPC test double on loopback."""
    server = FakeCloudKms()
    server.start()
    yield server
    server.stop()
