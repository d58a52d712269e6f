"""POST /ssh/sign with each provisioner type's credential (X5C, K8sSA, AWS, GCP, Azure,
Nebula; OIDC in test_provisioner_oidc.py), certificates checked by ``ssh-keygen -L``.
The cloud credentials come from local metadata servers speaking each cloud's wire
format, signed by test keys: the real cloud roots are not exercised."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.client.identity import aws_token, azure_token, gcp_token
from appliance.client.tokens import x5c_token
from appliance.sshcert import key_blob, parse_certificate
from tests.provisioner.metadata_servers import AwsImds, AzureImds, GcpMetadata, aws_document, gce_instance, self_signed
from tests.provisioner.openssl_chain import Chain, make_chain
from tests.provisioner.test_aws import AWS_KEY
from tests.provisioner.test_azure import AZURE_KEY, OID, TENANT, mirid
from tests.provisioner.test_gcp import EMAIL, GOOGLE_KEY
from tests.provisioner.test_k8ssa import CLUSTER_KEY, bound_token, k8ssa_config, legacy_token
from tests.provisioner.test_nebula import Mesh
from tests.ssh.conftest import SshCA
from tests.ssh.test_identity import identity_csr
from tests.ssh.test_sign import keygen_list

CA_URL = "https://ca.test:9000"
SSH = {"claims": {"enableSSHCA": True}}
NO_SSH = {"claims": {"enableSSHCA": False}}


def post_sign(ca: SshCA, ott: str, cert_type: str = "", key_id: str = "", principals: tuple[str, ...] = (),
              **extra: Any) -> Any:
    """``POST /ssh/sign`` as step sends it, for a fresh Ed25519 key."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    body = {"publicKey": base64.b64encode(key_blob(key)).decode(), "ott": ott, "certType": cert_type,
            "keyID": key_id, "principals": list(principals), **extra}
    return ca.client.post("/1.0/ssh/sign", content=json.dumps(body))


def issued(tmp_path: Path, response: Any) -> str:
    assert response.status_code == 201, response.text
    return keygen_list(tmp_path, response.json()["crt"])


def ssh_count(ca: SshCA) -> int:
    """How many SSH certificates the CA has recorded (unexpired)."""
    assert ca.authority.ssh is not None
    now = datetime.datetime.now(datetime.timezone.utc)
    return sum(len(ca.authority.ssh.store.certificates(kind, now)) for kind in ("user", "host"))


# -- X5C ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return make_chain(tmp_path_factory.mktemp("x5c"))


def x5c_ssh_token(chain: Chain, ca: SshCA, ssh: dict[str, Any] | None, subject: str = "device") -> str:
    return x5c_token(chain.certificates("device"), chain.private_key("device"), provisioner="x5c", ca_url=CA_URL,
                     endpoint="ssh/sign", subject=subject, root_fingerprint=ca.ca.fingerprint, ssh=ssh)


def x5c_provisioner(chain: Chain, **extra: Any) -> dict[str, Any]:
    return {"type": "X5C", "name": "x5c", "roots": base64.b64encode(chain.root.read_bytes()).decode(), **SSH,
            **extra}


def test_x5c_token_with_step_ssh_claims(make_ssh_ca: Callable[..., SshCA], chain: Chain, tmp_path: Path) -> None:
    ca = make_ssh_ca(provisioners=(x5c_provisioner(chain),))
    ssh = {"certType": "host", "keyID": "device", "principals": ["device.internal"]}
    listing = issued(tmp_path, post_sign(ca, x5c_ssh_token(chain, ca, ssh), "host", "device", ("device.internal",)))
    assert "host certificate" in listing and 'Key ID: "device"' in listing
    assert "device.internal" in listing.split("Principals:")[1]
    leaf_end = chain.certificates("device")[0].not_valid_after_utc.timestamp()
    certificate = parse_certificate(post_sign(ca, x5c_ssh_token(chain, ca, {}), "user").json()["crt"])
    assert certificate.valid_principals == [b"device"] and certificate.valid_before <= leaf_end


def test_x5c_refusals_issue_nothing(make_ssh_ca: Callable[..., SshCA], chain: Chain) -> None:
    ca = make_ssh_ca(provisioners=(x5c_provisioner(chain),))
    ssh = {"certType": "user", "principals": ["device"]}
    outside = post_sign(ca, x5c_ssh_token(chain, ca, ssh), "user", "", ("root",))
    assert outside.status_code == 403 and "principals does not match" in outside.json()["message"]
    wrong_type = post_sign(ca, x5c_ssh_token(chain, ca, ssh), "host")
    assert wrong_type.status_code == 403
    no_ssh_claim = post_sign(ca, x5c_ssh_token(chain, ca, None))
    assert no_ssh_claim.status_code == 401
    disabled = make_ssh_ca(provisioners=(x5c_provisioner(chain, **NO_SSH),))
    refused = post_sign(disabled, x5c_ssh_token(chain, disabled, ssh))
    assert refused.status_code == 401 and "sshCA is disabled" in refused.json()["message"]
    assert ssh_count(ca) == 0 and ssh_count(disabled) == 0


def test_x5c_token_spent_once(make_ssh_ca: Callable[..., SshCA], chain: Chain) -> None:
    ca = make_ssh_ca(provisioners=(x5c_provisioner(chain),))
    ott = x5c_ssh_token(chain, ca, {"certType": "user"})
    assert post_sign(ca, ott).status_code == 201
    replayed = post_sign(ca, ott)
    assert replayed.status_code == 401 and "already used" in replayed.json()["message"]
    assert ssh_count(ca) == 1


def test_x5c_identity_certificate_for_the_ssh_token(make_ssh_ca: Callable[..., SshCA], chain: Chain) -> None:
    """identityCSR with an X5C token (audience /ssh/sign, as step-ca's sign audiences allow)."""
    ca = make_ssh_ca(provisioners=(x5c_provisioner(chain),))
    csr = identity_csr("device", x509.DNSName("device"))
    response = post_sign(ca, x5c_ssh_token(chain, ca, {"certType": "user"}), "user", identityCSR=csr)
    assert response.status_code == 201, response.text
    leaf = x509.load_pem_x509_certificate(response.json()["identityCrt"][0].encode())
    certificate = parse_certificate(response.json()["crt"])
    assert leaf.subject.rfc4514_string() == "CN=device"
    assert int(leaf.not_valid_after_utc.timestamp()) == certificate.valid_before


# -- K8sSA -------------------------------------------------------------------------------


def k8ssa_provisioner(**extra: Any) -> dict[str, Any]:
    return {**k8ssa_config(CLUSTER_KEY), **SSH, **extra}


def test_k8ssa_certificate_is_the_one_the_request_describes(make_ssh_ca: Callable[..., SshCA],
                                                            tmp_path: Path) -> None:
    ca = make_ssh_ca(provisioners=(k8ssa_provisioner(),))
    listing = issued(tmp_path, post_sign(ca, legacy_token(), "host", "api-host", ("api.payments.svc",)))
    assert "host certificate" in listing and 'Key ID: "api-host"' in listing
    assert "api.payments.svc" in listing
    bound = bound_token(audience=f"{CA_URL}/1.0/ssh/sign")
    assert "user certificate" in issued(tmp_path, post_sign(ca, bound, "user", "api", ("api",)))
    wrong_audience = post_sign(ca, bound_token(audience=f"{CA_URL}/1.0/sign"), "host", "api", ("api",))
    assert wrong_audience.status_code == 401


def test_k8ssa_request_must_name_type_key_id_and_principals(make_ssh_ca: Callable[..., SshCA]) -> None:
    ca = make_ssh_ca(provisioners=(k8ssa_provisioner(),), )
    for missing in (("", "api", ("api",)), ("host", "", ("api",)), ("host", "api", ())):
        response = post_sign(ca, legacy_token(), *missing)  # type: ignore[arg-type]
        assert response.status_code == 400 and "not been provided" in response.json()["message"]
    disabled = make_ssh_ca(provisioners=(k8ssa_provisioner(**NO_SSH),))
    assert post_sign(disabled, legacy_token(), "host", "api", ("api",)).status_code == 401
    policed = make_ssh_ca(provisioners=(k8ssa_provisioner(policy={"ssh": {"host": {"allow": {
        "dns": ["*.payments.svc"]}}}}),))
    outside = post_sign(policed, legacy_token(), "host", "api", ("db.other.svc",))
    assert outside.status_code == 403
    assert ssh_count(ca) == 0 and ssh_count(policed) == 0


def test_k8ssa_host_durations_from_the_provisioner_claims(make_ssh_ca: Callable[..., SshCA]) -> None:
    ca = make_ssh_ca(provisioners=(k8ssa_provisioner(claims={
        "enableSSHCA": True, "maxHostSSHCertDuration": "2h", "defaultHostSSHCertDuration": "1h"}),))
    default = parse_certificate(post_sign(ca, legacy_token(), "host", "api", ("api",)).json()["crt"])
    assert 3600 <= default.valid_before - default.valid_after <= 3600 + 60  # + the authority's backdate
    too_long = post_sign(ca, legacy_token(namespace="other"), "host", "api", ("api",), validBefore="3h")
    assert too_long.status_code == 403 and "maximum accepted duration" in too_long.json()["message"]


# -- AWS / GCP / Azure --------------------------------------------------------------------


@pytest.fixture
def aws(tmp_path: Path) -> Iterator[tuple[AwsImds, dict[str, Any]]]:
    roots = tmp_path / "aws-iid.pem"
    roots.write_bytes(self_signed(AWS_KEY, "ec2.amazonaws.com").public_bytes(serialization.Encoding.PEM))
    server = AwsImds(aws_document(), AWS_KEY)
    yield server, {"type": "AWS", "name": "ec2", "iidRoots": str(roots), **SSH}
    server.close()


def aws_ott(server: AwsImds) -> str:
    return aws_token(provisioner="ec2", ca_url=CA_URL, subject="i-1234567890abcdef0", metadata_url=server.url)


def test_aws_host_certificate_for_the_instance(make_ssh_ca: Callable[..., SshCA], aws: Any, tmp_path: Path) -> None:
    server, config = aws
    document = aws_document()
    dns = f"ip-{document['privateIp'].replace('.', '-')}.{document['region']}.compute.internal"
    ca = make_ssh_ca(provisioners=({**config, "disableCustomSANs": True},))
    listing = issued(tmp_path, post_sign(ca, aws_ott(server)))
    assert "host certificate" in listing and f'Key ID: "{document["instanceId"]}"' in listing
    assert dns in listing and document["privateIp"] in listing
    again = post_sign(ca, aws_ott(server))  # trust on first use: one certificate per instance
    assert again.status_code == 401 and ssh_count(ca) == 1


def test_aws_custom_principals_unless_disabled(make_ssh_ca: Callable[..., SshCA], aws: Any, tmp_path: Path) -> None:
    server, config = aws
    strict = make_ssh_ca(provisioners=({**config, "disableCustomSANs": True},))
    custom = post_sign(strict, aws_ott(server), "host", "", ("web.example.com",))
    assert custom.status_code == 403 and ssh_count(strict) == 0
    user = post_sign(strict, aws_ott(server), "user")
    assert user.status_code == 403 and "type does not match" in user.json()["message"]
    free = make_ssh_ca(provisioners=({**config, "disableTrustOnFirstUse": True},))
    none_named = post_sign(free, aws_ott(server))
    assert none_named.status_code == 400 and "principals have not been provided" in none_named.json()["message"]
    listing = issued(tmp_path, post_sign(free, aws_ott(server), "host", "", ("web.example.com",)))
    assert "web.example.com" in listing
    disabled = make_ssh_ca(provisioners=({**config, **NO_SSH},))
    assert post_sign(disabled, aws_ott(server), "host", "", ("web.example.com",)).status_code == 401


def test_gcp_host_certificate_for_the_instance(make_ssh_ca: Callable[..., SshCA], tmp_path: Path) -> None:
    server = GcpMetadata(GOOGLE_KEY, gce_instance(), EMAIL)
    try:
        config = {"type": "GCP", "name": "gce", "jwksURL": server.certs_url, "disableCustomSANs": True,
                  "disableTrustOnFirstUse": True, **SSH}
        ca = make_ssh_ca(provisioners=(config,))
        ott = gcp_token(provisioner="gce", ca_url=CA_URL, metadata_url=server.url)
        listing = issued(tmp_path, post_sign(ca, ott))
        assert "host certificate" in listing and 'Key ID: "5213457098133217521"' in listing
        assert "web-1.c.acme-prod.internal" in listing and "web-1.europe-west1-b.c.acme-prod.internal" in listing
        replayed = post_sign(ca, ott)
        assert replayed.status_code == 401
        other = post_sign(ca, gcp_token(provisioner="gce", ca_url=CA_URL, metadata_url=server.url), "host", "",
                          ("db.example.com",))
        assert other.status_code == 403
        disabled = make_ssh_ca(provisioners=({**config, **NO_SSH},))
        assert post_sign(disabled, gcp_token(provisioner="gce", ca_url=CA_URL, metadata_url=server.url)
                         ).status_code == 401
        assert ssh_count(ca) == 1
    finally:
        server.close()


def test_azure_host_certificate_for_the_virtual_machine(make_ssh_ca: Callable[..., SshCA], tmp_path: Path) -> None:
    server = AzureImds(AZURE_KEY, TENANT, {"oid": OID, "sub": OID, "xms_mirid": mirid()})
    try:
        config = {"type": "Azure", "name": "azure", "tenantID": TENANT, "jwksURL": server.keys_url,
                  "disableCustomSANs": True, **SSH}
        ca = make_ssh_ca(provisioners=(config,))
        listing = issued(tmp_path, post_sign(ca, azure_token(metadata_url=server.url), "host", "", ("web-1",)))
        assert "host certificate" in listing and 'Key ID: "web-1"' in listing and "web-1" in listing
        strict = make_ssh_ca(provisioners=({**config, "disableTrustOnFirstUse": True},))
        outside = post_sign(strict, azure_token(metadata_url=server.url), "host", "", ("db-1",))
        assert outside.status_code == 403 and ssh_count(strict) == 0
    finally:
        server.close()


# -- Nebula ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    made = Mesh(tmp_path_factory.mktemp("mesh"))
    made.host("web1.mesh")
    return made


def nebula_ott(mesh: Mesh, ssh: dict[str, Any] | None = None) -> str:
    from appliance.client.tokens import nebula_token

    return nebula_token((mesh.directory / "web1.mesh.crt").read_bytes(),
                        (mesh.directory / "web1.mesh.key").read_bytes(), provisioner="mesh", ca_url=CA_URL,
                        endpoint="ssh/sign", subject="web1.mesh", ssh=ssh)


def nebula_provisioner(mesh: Mesh, **extra: Any) -> dict[str, Any]:
    return {"type": "Nebula", "name": "mesh", "roots": base64.b64encode(mesh.root).decode(), **SSH, **extra}


def test_nebula_host_certificate_for_its_name_and_ip(make_ssh_ca: Callable[..., SshCA], mesh: Mesh,
                                                     tmp_path: Path) -> None:
    ca = make_ssh_ca(provisioners=(nebula_provisioner(mesh),))
    listing = issued(tmp_path, post_sign(ca, nebula_ott(mesh)))
    assert "host certificate" in listing and 'Key ID: "web1.mesh"' in listing
    assert "web1.mesh" in listing.split("Principals:")[1] and "10.42.0.5" in listing
    narrowed = issued(tmp_path, post_sign(ca, nebula_ott(mesh, {"principals": ["10.42.0.5"]}), "host", "",
                                          ("10.42.0.5",)))
    assert "10.42.0.5" in narrowed and "web1.mesh\n" not in narrowed.split("Principals:")[1].split("Critical")[0]


def test_nebula_refusals_issue_nothing(make_ssh_ca: Callable[..., SshCA], mesh: Mesh) -> None:
    ca = make_ssh_ca(provisioners=(nebula_provisioner(mesh),))
    outside_token = post_sign(ca, nebula_ott(mesh, {"principals": ["db1.mesh"]}))
    assert outside_token.status_code == 403 and "not in the Nebula certificate" in outside_token.json()["message"]
    outside_request = post_sign(ca, nebula_ott(mesh), "host", "", ("db1.mesh",))
    assert outside_request.status_code == 403
    user = post_sign(ca, nebula_ott(mesh, {"certType": "user"}))
    assert user.status_code == 403 and "want host" in user.json()["message"]
    user_request = post_sign(ca, nebula_ott(mesh), "user")
    assert user_request.status_code == 403
    disabled = make_ssh_ca(provisioners=(nebula_provisioner(mesh, **NO_SSH),))
    assert post_sign(disabled, nebula_ott(mesh)).status_code == 401
    assert ssh_count(ca) == 0


def test_ssh_templates_see_the_credential_as_authorization_crt(make_ssh_ca: Callable[..., SshCA], chain: Chain,
                                                               mesh: Mesh, tmp_path: Path) -> None:
    template = ('{"type": "host", "keyId": {{ toJson (printf "crt-%%s" .AuthorizationCrt.%s) }}, '
                '"principals": {{ toJson .Principals }}}')
    ca = make_ssh_ca(provisioners=(
        x5c_provisioner(chain, options={"ssh": {"template": template % "Subject.CommonName"}}),
        nebula_provisioner(mesh, options={"ssh": {"template": template % "Name"}})))
    x5c_listing = issued(tmp_path, post_sign(ca, x5c_ssh_token(chain, ca, {"certType": "host"})))
    common_name = chain.certificates("device")[0].subject.rfc4514_string().removeprefix("CN=")
    assert f'Key ID: "crt-{common_name}"' in x5c_listing
    assert 'Key ID: "crt-web1.mesh"' in issued(tmp_path, post_sign(ca, nebula_ott(mesh)))
