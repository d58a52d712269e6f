"""How a token finds its provisioner (step-ca's ``LoadByToken``): the audience
fragment, iss/kid, the Kubernetes issuer, azp, tid, the first audience."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from appliance.errors import Unauthorized
from appliance.jose import UnverifiedToken, generate_jwk, public_dict
from appliance.provisioner import Collection
from tests.provisioner.conftest import context
from tests.provisioner.test_k8ssa import CLUSTER_KEY, k8ssa_config
from tests.provisioner.test_nebula import Mesh


def _token(claims: dict[str, Any], header: dict[str, Any] | None = None) -> UnverifiedToken:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return UnverifiedToken.parse(f"{part({'alg': 'ES256', **(header or {})})}.{part(claims)}.c2ln")


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Collection:
    mesh = Mesh(tmp_path_factory.mktemp("lookup-mesh"))
    key = generate_jwk()
    return Collection.from_config([
        {"type": "JWK", "name": "admin", "key": public_dict(key)},
        {"type": "Nebula", "name": "mesh", "roots": mesh.root.decode()},
        k8ssa_config(CLUSTER_KEY),
        {"type": "OIDC", "name": "sso", "clientID": "client-1", "configurationEndpoint": "https://idp.test/.wk"},
        {"type": "Azure", "name": "azure", "tenantID": "tenant-1"},
    ], context())


@pytest.mark.parametrize(("claims", "header", "name"), [
    ({"iss": "anything", "aud": "https://ca.test/1.0/sign#nebula/mesh"}, {}, "mesh"),
    ({"iss": "mesh", "aud": "https://ca.test/1.0/sign"}, {"kid": "some-kid"}, "mesh"),
    ({"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:a:b"}, {}, "cluster"),
    ({"iss": "https://k8s.test", "kubernetes.io": {"namespace": "a"}, "aud": ["x"]}, {}, "cluster"),
    ({"iss": "https://idp.test", "aud": "other", "azp": "client-1"}, {}, "sso"),
    ({"iss": "https://idp.test", "aud": ["client-1", "other"]}, {}, "sso"),
    ({"iss": "https://sts.windows.net/tenant-1/", "aud": "https://management.azure.com/", "tid": "tenant-1"}, {},
     "azure"),
])
def test_tokens_find_their_provisioner(collection: Collection, claims: dict, header: dict, name: str) -> None:
    assert collection.for_token(_token(claims, header)).name == name


@pytest.mark.parametrize("claims", [
    {"iss": "admin", "aud": "https://ca.test/1.0/sign"},  # a JWK token must name its key
    {"iss": "nobody", "aud": 5},
    {"aud": {"not": "a list"}, "azp": ["x"]},
    {},
])
def test_unknown_or_malformed_tokens_name_no_provisioner(collection: Collection, claims: dict) -> None:
    with pytest.raises(Unauthorized, match="no provisioner"):
        collection.for_token(_token(claims, {"kid": "wrong"}))
