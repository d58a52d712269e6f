"""The AWS provisioner against a local IMDSv2 server speaking EC2's wire protocol;
the token comes from the client code reading it. The document is signed by a test
RSA key whose certificate the provisioner trusts (``iidRoots``): AWS's real
certificates are not exercised."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from appliance.authority.interfaces import SignRequest
from appliance.client.identity import aws_token
from appliance.errors import BadRequest, Forbidden, Unauthorized, Unavailable
from appliance.jose import UnverifiedToken, sign_hmac
from tests.ca_fixtures import make_csr
from appliance.provisioner.aws import AWSProvisioner
from tests.provisioner.conftest import MakeAuthority, certificate_count, context, openssl_verifies, sans
from tests.provisioner.metadata_servers import AwsImds, aws_document, self_signed

CA_URL = "https://ca.test:9000"
AWS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def iid_roots(tmp_path: Path) -> Path:
    path = tmp_path / "aws-iid.pem"
    path.write_bytes(self_signed(AWS_KEY, "ec2.amazonaws.com").public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def imds() -> Iterator[Any]:
    servers: list[AwsImds] = []

    def start(key: rsa.RSAPrivateKey = AWS_KEY, **document: Any) -> AwsImds:
        servers.append(AwsImds(aws_document(**document), key))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def aws_config(iid_roots: Path, **extra: Any) -> dict[str, Any]:
    return {"type": "AWS", "name": "ec2", "iidRoots": str(iid_roots), **extra}


def token(server: AwsImds, subject: str = "i-1234567890abcdef0", **kwargs: Any) -> str:
    return aws_token(provisioner="ec2", ca_url=CA_URL, subject=subject, metadata_url=server.url, **kwargs)


def test_instance_gets_one_certificate_trust_on_first_use(authority_with: MakeAuthority, imds: Any,
                                                          iid_roots: Path, tmp_path: Path) -> None:
    authority, ca = authority_with(aws_config(iid_roots, accounts=["123456789012"]))
    server = imds()
    issued = authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0", ["web.internal"])[0], token=token(server)))
    openssl_verifies(ca, issued, tmp_path)
    assert sans(issued.certificate) == ["web.internal"]
    with pytest.raises(Unauthorized, match="already used"):  # a second token of the same instance
        authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0")[0], token=token(server)))
    other_instance = imds(instanceId="i-0fedcba0987654321")
    authority.sign(SignRequest(csr=make_csr("i-0fedcba0987654321")[0], token=token(other_instance, "i-0fedcba0987654321")))
    assert certificate_count(authority) == 2


def test_without_trust_on_first_use_each_token_is_one_time(authority_with: MakeAuthority, imds: Any,
                                                           iid_roots: Path) -> None:
    authority, _ = authority_with(aws_config(iid_roots, disableTrustOnFirstUse=True))
    server = imds()
    first = token(server)
    authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0")[0], token=first))
    authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0")[0], token=token(server)))
    with pytest.raises(Unauthorized, match="already used"):
        authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0")[0], token=first))
    assert certificate_count(authority) == 2


def test_disable_custom_sans_gives_the_instance_names_only(authority_with: MakeAuthority, imds: Any,
                                                           iid_roots: Path) -> None:
    authority, _ = authority_with(aws_config(iid_roots, disableCustomSANs=True, disableTrustOnFirstUse=True))
    server = imds()
    with pytest.raises(Forbidden, match="web.internal"):
        authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0", ["web.internal"])[0], token=token(server)))
    issued = authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0", [])[0], token=token(server)))
    assert sans(issued.certificate) == ["10.0.1.17", "ip-10-0-1-17.eu-west-1.compute.internal"]
    with pytest.raises(Unauthorized, match="subject"):
        authority.sign(SignRequest(csr=make_csr("web.internal")[0], token=token(server, "web.internal")))
    assert certificate_count(authority) == 1


@pytest.mark.parametrize(("config", "server_args", "message"), [
    ({}, {"key": OTHER_KEY}, "signature does not verify"),
    ({"accounts": ["999999999999"]}, {}, "account"),
    ({"instanceAge": "1h"}, {"pendingTime": "2020-01-01T00:00:00Z"}, "older"),
])
def test_refused_documents_issue_nothing(authority_with: MakeAuthority, imds: Any, iid_roots: Path,
                                         config: dict, server_args: dict, message: str) -> None:
    authority, _ = authority_with(aws_config(iid_roots, **config))
    with pytest.raises(Unauthorized, match=message):
        authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0")[0], token=token(imds(**server_args))))
    assert certificate_count(authority) == 0


def test_tampered_document_and_wrong_audience_refused(authority_with: MakeAuthority, imds: Any,
                                                      iid_roots: Path) -> None:
    authority, _ = authority_with(aws_config(iid_roots))
    genuine = UnverifiedToken.parse(token(imds()), allow_special=True).claims
    document = json.loads(base64.b64decode(genuine["amazon"]["document"]))
    document["accountId"] = "999999999999"
    forged = {**genuine, "amazon": {**genuine["amazon"],
                                    "document": base64.b64encode(json.dumps(document).encode()).decode()}}
    signature = base64.b64decode(genuine["amazon"]["signature"])
    with pytest.raises(Unauthorized, match="signature does not verify"):
        authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0")[0], token=sign_hmac(forged, signature)))
    elsewhere = {**genuine, "aud": ["https://elsewhere.test/1.0/sign#aws/ec2"]}
    with pytest.raises(Unauthorized, match="audience"):
        authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0")[0], token=sign_hmac(elsewhere, signature)))
    assert certificate_count(authority) == 0


def test_imdsv1_only_client_is_refused_by_an_imdsv2_instance(imds: Any) -> None:
    with pytest.raises(Unavailable, match="401"):
        token(imds(), imds_versions=("v1",))


def test_iid_roots_required(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="iidRoots"):
        AWSProvisioner({"type": "AWS", "name": "ec2"}, context())
    with pytest.raises(BadRequest, match="imdsVersions"):
        AWSProvisioner({"type": "AWS", "name": "ec2", "iidRoots": str(tmp_path), "imdsVersions": ["v3"]}, context())


def test_relative_iid_roots_resolve_against_the_context_base_directory(tmp_path: Path, iid_roots: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path / "..")
    relative = {"type": "AWS", "name": "ec2", "iidRoots": iid_roots.name}
    provisioner = AWSProvisioner(relative, dataclasses.replace(context(), base_dir=tmp_path))
    assert provisioner.keys == [AWS_KEY.public_key()]
    with pytest.raises(BadRequest, match=f"cannot read iidRoots {tmp_path / 'missing.pem'}: No such file"):
        AWSProvisioner({**relative, "iidRoots": "missing.pem"}, dataclasses.replace(context(), base_dir=tmp_path))


def test_the_template_reads_the_aws_token_as_dot_token(authority_with: MakeAuthority, imds: Any,
                                                       iid_roots: Path) -> None:
    template = ('{"subject": {"commonName": {{ toJson .Insecure.CR.Subject.CommonName }}, '
                '"organizationalUnit": {{ toJson .Token.iss }}}, "dnsNames": {{ toJson .Insecure.CR.DNSNames }}}')
    authority, _ = authority_with({**aws_config(iid_roots), "options": {"x509": {"template": template}}})
    issued = authority.sign(SignRequest(csr=make_csr("i-1234567890abcdef0", ["web.internal"])[0],
                                        token=token(imds())))
    assert issued.certificate.subject.rfc4514_string() == "CN=i-1234567890abcdef0,OU=ec2.amazonaws.com"
