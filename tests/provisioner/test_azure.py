"""The Azure provisioner against a local server speaking Azure IMDS's managed-identity
protocol (v1 access tokens as Entra ID mints them) and the tenant's JWKS, signing with
a test RSA key published there: Microsoft's real keys are not exercised."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from appliance.authority.interfaces import SignRequest
from appliance.client.identity import azure_token
from appliance.errors import Forbidden, Unauthorized, Unavailable
from appliance.jose import UnverifiedToken, generate_jwk
from appliance.provisioner.azure import AzureProvisioner
from tests.ca_fixtures import make_csr
from tests.provisioner.conftest import MakeAuthority, certificate_count, context, openssl_verifies, sans
from tests.provisioner.metadata_servers import AzureImds

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION = "0c3a8e5b-1f2d-4e6a-9b7c-5d4e3f2a1b0c"
OID = "8d2e6f4a-3b1c-4d5e-9f8a-7b6c5d4e3f2a"
AZURE_KEY = generate_jwk("RSA")


def mirid(group: str = "prod-rg", vm: str = "web-1") -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{group}/providers/Microsoft.Compute/virtualMachines/{vm}"


@pytest.fixture
def imds() -> Iterator[Any]:
    servers: list[AzureImds] = []

    def start(key: Any = AZURE_KEY, tenant: str = TENANT, **claims: Any) -> AzureImds:
        servers.append(AzureImds(key, tenant, {"oid": OID, "sub": OID, "xms_mirid": mirid(), **claims}))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def azure_config(server: AzureImds, **extra: Any) -> dict[str, Any]:
    return {"type": "Azure", "name": "azure", "tenantID": TENANT, "jwksURL": server.keys_url, **extra}


def test_virtual_machine_gets_one_certificate(authority_with: MakeAuthority, imds: Any, tmp_path: Path) -> None:
    server = imds()
    authority, ca = authority_with(azure_config(server, resourceGroups=["Prod-RG"], subscriptionIDs=[SUBSCRIPTION],
                                                objectIDs=[OID]))
    issued = authority.sign(SignRequest(csr=make_csr("web-1", ["web-1.internal.cloudapp.net"])[0],
                                        token=azure_token(metadata_url=server.url)))
    openssl_verifies(ca, issued, tmp_path)
    assert issued.certificate.subject.rfc4514_string() == "CN=web-1"
    assert sans(issued.certificate) == ["web-1.internal.cloudapp.net"]
    with pytest.raises(Unauthorized, match="already used"):  # trust on first use
        authority.sign(SignRequest(csr=make_csr("web-1")[0], token=azure_token(metadata_url=server.url)))
    assert certificate_count(authority) == 1


def test_disable_custom_sans(authority_with: MakeAuthority, imds: Any) -> None:
    server = imds()
    authority, _ = authority_with(azure_config(server, disableCustomSANs=True, disableTrustOnFirstUse=True))
    with pytest.raises(Forbidden, match="evil.test"):
        authority.sign(SignRequest(csr=make_csr("web-1", ["evil.test"])[0], token=azure_token(metadata_url=server.url)))
    issued = authority.sign(SignRequest(csr=make_csr("web-1", [])[0], token=azure_token(metadata_url=server.url)))
    assert sans(issued.certificate) == ["web-1"]


@pytest.mark.parametrize(("config", "claims", "message"), [
    ({"resourceGroups": ["dev-rg"]}, {}, "resource group"),
    ({"subscriptionIDs": ["11111111-2222-3333-4444-555555555555"]}, {}, "subscription"),
    ({"objectIDs": ["11111111-2222-3333-4444-555555555555"]}, {}, "oid"),
    ({}, {"xms_mirid": "/subscriptions/x/resourcegroups/g/providers/Microsoft.Storage/storageAccounts/s"},
     "virtual machine"),
    ({"audience": "https://vault.azure.net"}, {}, "audience"),
])
def test_refused_tokens_issue_nothing(authority_with: MakeAuthority, imds: Any, config: dict, claims: dict,
                                      message: str) -> None:
    server = imds(**claims)
    authority, _ = authority_with(azure_config(server, **config))
    with pytest.raises(Unauthorized, match=message):
        authority.sign(SignRequest(csr=make_csr("web-1")[0], token=azure_token(metadata_url=server.url)))
    assert certificate_count(authority) == 0


def test_other_tenant_signer_and_expiry(imds: Any) -> None:
    server = imds()
    at = datetime.datetime.now(datetime.timezone.utc)
    provisioner = AzureProvisioner(azure_config(server), context(lambda: at))
    other_tenant = imds(tenant="00000000-0000-0000-0000-000000000001", key=AZURE_KEY)
    with pytest.raises(Unauthorized, match="issuer"):
        provisioner.authorize_sign(UnverifiedToken.parse(azure_token(metadata_url=other_tenant.url)))
    impostor = imds(key=generate_jwk("RSA"))
    with pytest.raises(Unauthorized, match="kid|signature"):
        provisioner.authorize_sign(UnverifiedToken.parse(azure_token(metadata_url=impostor.url)))
    later = AzureProvisioner(azure_config(server), context(lambda: at + datetime.timedelta(hours=25)))
    with pytest.raises(Unauthorized, match="expired"):
        later.authorize_sign(UnverifiedToken.parse(azure_token(metadata_url=server.url)))


def test_cached_keys_outlive_an_outage_of_the_key_server(imds: Any) -> None:
    server = imds()
    keys_server = imds()  # publishes the same key; goes down after the first fetch
    clock = [datetime.datetime.now(datetime.timezone.utc)]
    provisioner = AzureProvisioner({**azure_config(server), "jwksURL": keys_server.keys_url}, context(lambda: clock[0]))
    options = provisioner.authorize_sign(UnverifiedToken.parse(azure_token(metadata_url=server.url)))
    assert options.subject == "web-1" and options.claims["xms_mirid"].endswith("/web-1")  # the template's .Token
    keys_server.close()
    clock[0] += datetime.timedelta(hours=2)  # past the hourly refresh, within the token's 24 h
    token = UnverifiedToken.parse(azure_token(metadata_url=server.url))
    assert provisioner.authorize_sign(token).subject == "web-1"
    unknown = UnverifiedToken.parse(azure_token(metadata_url=imds(key=generate_jwk("RSA")).url))
    clock[0] += datetime.timedelta(minutes=1)
    with pytest.raises(Unavailable, match="cannot reach"):  # a new key id needs the server
        provisioner.authorize_sign(unknown)
