"""The GCP provisioner against a local server speaking GCE's metadata protocol
(identity tokens in Google's ``format=full`` shape) and Google's JWKS endpoint,
signing with a test RSA key published there: Google's real keys are not exercised."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from appliance.authority.interfaces import SignRequest
from appliance.client.identity import gcp_token
from appliance.errors import BadRequest, Forbidden, Unauthorized, Unavailable
from appliance.jose import UnverifiedToken, generate_jwk
from appliance.provisioner.gcp import GCPProvisioner
from tests.ca_fixtures import make_csr
from tests.provisioner.conftest import MakeAuthority, certificate_count, context, openssl_verifies, sans
from tests.provisioner.metadata_servers import GcpMetadata, gce_instance

CA_URL = "https://ca.test:9000"
EMAIL = "web@acme-prod.iam.gserviceaccount.com"
GOOGLE_KEY = generate_jwk("RSA")


@pytest.fixture
def metadata() -> Iterator[Any]:
    servers: list[GcpMetadata] = []

    def start(key: Any = GOOGLE_KEY, email: str = EMAIL, **instance: Any) -> GcpMetadata:
        servers.append(GcpMetadata(key, gce_instance(**instance), email))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def gcp_config(server: GcpMetadata, **extra: Any) -> dict[str, Any]:
    return {"type": "GCP", "name": "gce", "jwksURL": server.certs_url, **extra}


def token(server: GcpMetadata, ca_url: str = CA_URL) -> str:
    return gcp_token(provisioner="gce", ca_url=ca_url, metadata_url=server.url)


def test_instance_gets_one_certificate(authority_with: MakeAuthority, metadata: Any, tmp_path: Path) -> None:
    server = metadata()
    authority, ca = authority_with(gcp_config(server, serviceAccounts=[EMAIL], projectIDs=["acme-prod"]))
    issued = authority.sign(SignRequest(csr=make_csr("web-1", ["web.acme.internal"])[0], token=token(server)))
    openssl_verifies(ca, issued, tmp_path)
    assert issued.certificate.subject.rfc4514_string() == "CN=web-1"
    assert sans(issued.certificate) == ["web.acme.internal"]
    with pytest.raises(Unauthorized, match="already used"):  # trust on first use: one per instance
        authority.sign(SignRequest(csr=make_csr("web-1")[0], token=token(server)))
    assert certificate_count(authority) == 1


def test_disable_custom_sans_and_tofu(authority_with: MakeAuthority, metadata: Any) -> None:
    server = metadata()
    authority, _ = authority_with(gcp_config(server, disableCustomSANs=True, disableTrustOnFirstUse=True))
    with pytest.raises(Forbidden, match="web.acme.internal"):
        authority.sign(SignRequest(csr=make_csr("web-1", ["web.acme.internal"])[0], token=token(server)))
    ott = token(server)
    first = authority.sign(SignRequest(csr=make_csr("web-1", [])[0], token=ott))
    assert sans(first.certificate) == ["web-1.c.acme-prod.internal", "web-1.europe-west1-b.c.acme-prod.internal"]
    with pytest.raises(Unauthorized, match="already used"):  # without TOFU the token itself is one-time
        authority.sign(SignRequest(csr=make_csr("web-1", [])[0], token=ott))
    later = token(metadata(instance_creation_timestamp=int(time.time()) - 30))  # a new token, same instance
    authority.sign(SignRequest(csr=make_csr("web-1", [])[0], token=later))
    assert certificate_count(authority) == 2


@pytest.mark.parametrize(("config", "server_args", "message"), [
    ({"serviceAccounts": ["other@acme-prod.iam.gserviceaccount.com"]}, {}, "service account"),
    ({"projectIDs": ["acme-dev"]}, {}, "project"),
    ({"instanceAge": "1h"}, {"instance_creation_timestamp": int(time.time()) - 7200}, "older"),
])
def test_refused_instances_get_nothing(authority_with: MakeAuthority, metadata: Any, config: dict,
                                       server_args: dict, message: str) -> None:
    server = metadata(**server_args)
    authority, _ = authority_with(gcp_config(server, **config))
    with pytest.raises(Unauthorized, match=message):
        authority.sign(SignRequest(csr=make_csr("web-1")[0], token=token(server)))
    assert certificate_count(authority) == 0


def test_wrong_signer_wrong_audience_and_expired(metadata: Any) -> None:
    server = metadata()
    impostor = metadata(key=generate_jwk("RSA"))
    at = datetime.datetime.now(datetime.timezone.utc)
    provisioner = GCPProvisioner(gcp_config(server), context(lambda: at))
    good = provisioner.authorize_sign(UnverifiedToken.parse(token(server)))
    assert good.claims["google"]["compute_engine"]["instance_name"]  # the template's .Token
    with pytest.raises(Unauthorized, match="kid|signature"):
        provisioner.authorize_sign(UnverifiedToken.parse(token(impostor)))
    with pytest.raises(Unauthorized, match="audience"):
        provisioner.authorize_sign(UnverifiedToken.parse(token(server, "https://elsewhere.test")))
    later = GCPProvisioner(gcp_config(server), context(lambda: at + datetime.timedelta(hours=2)))
    with pytest.raises(Unauthorized, match="expired"):
        later.authorize_sign(UnverifiedToken.parse(token(server)))


def test_metadata_server_needs_its_header_and_organization_id_is_refused(metadata: Any) -> None:
    import httpx

    server = metadata()
    url = f"{server.url}/computeMetadata/v1/instance/service-accounts/default/identity?audience=x"
    assert httpx.get(url).status_code == 403
    with pytest.raises(Unavailable, match="cannot reach"):
        gcp_token(provisioner="gce", ca_url=CA_URL, metadata_url="http://127.0.0.1:9")
    with pytest.raises(BadRequest, match="organizationID"):
        GCPProvisioner({**gcp_config(server), "organizationID": "1234"}, context())
