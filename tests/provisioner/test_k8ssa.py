"""The K8sSA provisioner with service-account tokens in Kubernetes' exact formats
(legacy secret-based and bound/projected), signed RS256 by a key the test makes as
kube-apiserver's --service-account-signing-key would be."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from appliance.authority.interfaces import SignRequest
from appliance.errors import BadRequest, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.jose.jwk import JWK
from appliance.jose import sign as jws_sign
from appliance.policy import NamesRefused
from appliance.provisioner.k8ssa import K8sSAProvisioner
from tests.ca_fixtures import make_csr
from tests.provisioner.conftest import MakeAuthority, certificate_count, context, openssl_verifies, sans

CLUSTER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_CLUSTER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
UID = "3f1c2a7e-8d7b-4c47-9a32-1d2b5f6e7a80"


def public_pem(*keys: Any) -> bytes:
    return b"".join(k.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo) for k in keys)


def k8ssa_config(*keys: Any) -> dict[str, Any]:
    return {"type": "K8sSA", "name": "cluster", "publicKeys": base64.b64encode(public_pem(*keys)).decode()}


def legacy_token(key: Any = CLUSTER_KEY, namespace: str = "payments", account: str = "api", **extra: Any) -> str:
    """The JWT of a service-account token Secret (Kubernetes < 1.24 default)."""
    claims = {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": f"{account}-token-x7k2p",
        "kubernetes.io/serviceaccount/service-account.name": account,
        "kubernetes.io/serviceaccount/service-account.uid": UID,
        "sub": f"system:serviceaccount:{namespace}:{account}",
        **extra,
    }
    return jws_sign(claims, JWK.from_pyca(key), alg="RS256", headers={"kid": "cluster-key-1"})


def bound_token(audience: str = "https://ca.test:9000/1.0/sign", key: Any = CLUSTER_KEY, lifetime: int = 3607,
                now: float | None = None) -> str:
    """A projected (bound) token as the kubelet mounts it, audience set by the pod spec."""
    issued = int(now if now is not None else time.time())
    claims = {
        "aud": [audience],
        "exp": issued + lifetime,
        "iat": issued,
        "iss": "https://kubernetes.default.svc.cluster.local",
        "kubernetes.io": {
            "namespace": "payments",
            "pod": {"name": "api-7d9f8c6b5-x2x9z", "uid": "9b0e6c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b"},
            "serviceaccount": {"name": "api", "uid": UID},
            "warnafter": issued + 3600,
        },
        "nbf": issued,
        "sub": "system:serviceaccount:payments:api",
    }
    return jws_sign(claims, JWK.from_pyca(key), alg="RS256", headers={"kid": "cluster-key-1"})


@pytest.mark.parametrize("make_token", [legacy_token, bound_token], ids=["legacy", "bound"])
def test_service_account_token_gets_a_certificate(authority_with: MakeAuthority, tmp_path: Path,
                                                  make_token: Any) -> None:
    authority, ca = authority_with(k8ssa_config(OTHER_CLUSTER_KEY, CLUSTER_KEY))
    token = make_token()
    csr, _ = make_csr("api", ["api.payments.svc.cluster.local"])
    issued = authority.sign(SignRequest(csr=csr, token=token))
    openssl_verifies(ca, issued, tmp_path)
    assert issued.certificate.subject.rfc4514_string() == "CN=api"
    assert sans(issued.certificate) == ["api.payments.svc.cluster.local"]
    with pytest.raises(Unauthorized, match="already used"):
        authority.sign(SignRequest(csr=csr, token=token))
    assert certificate_count(authority) == 1


def test_policy_limits_the_names(authority_with: MakeAuthority) -> None:
    authority, _ = authority_with({**k8ssa_config(CLUSTER_KEY),
                                   "policy": {"x509": {"allow": {"dns": ["*.svc.cluster.local"]}}}})
    with pytest.raises(NamesRefused, match="evil.example.com"):
        authority.sign(SignRequest(csr=make_csr("api", ["evil.example.com"])[0], token=legacy_token()))
    assert certificate_count(authority) == 0


@pytest.mark.parametrize(("token", "message"), [
    (lambda: legacy_token(key=OTHER_CLUSTER_KEY), "not signed by a key of the cluster"),
    (lambda: bound_token(audience="https://elsewhere.test/1.0/sign"), "audience"),
    (lambda: bound_token(now=time.time() - 7300), "expired"),
    (lambda: legacy_token(sub="system:serviceaccount:kube-system:admin"), "subject"),
    (lambda: legacy_token(iss="https://evil.test"), "issuer"),
])
def test_refused_tokens(token: Any, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        K8sSAProvisioner(k8ssa_config(CLUSTER_KEY), context()).authorize_sign(UnverifiedToken.parse(token()))


def test_keys_must_be_pem_public_keys() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = {**k8ssa_config(CLUSTER_KEY), "publicKeys": public_pem(ec_key).decode()}
    assert len(K8sSAProvisioner(pem, context()).public_keys) == 1
    for value in (None, "", "bm90IGEga2V5", 7):
        with pytest.raises(BadRequest, match="publicKeys"):
            K8sSAProvisioner({"type": "K8sSA", "name": "c", "publicKeys": value}, context())


def test_the_template_reads_the_service_account_token_as_dot_token(authority_with: MakeAuthority) -> None:
    """step-ca sets ``.Token`` to the token's claims for every token-based provisioner."""
    template = """{"subject": {"commonName": {{ toJson .Subject.CommonName }},
      "organizationalUnit": {{ toJson (index .Token "kubernetes.io" "namespace") }}},
      "dnsNames": {{ toJson .Insecure.CR.DNSNames }}}"""
    authority, _ = authority_with({**k8ssa_config(CLUSTER_KEY), "options": {"x509": {"template": template}}})
    issued = authority.sign(SignRequest(csr=make_csr("api", ["api.payments.svc.cluster.local"])[0],
                                        token=bound_token()))
    assert issued.certificate.subject.rfc4514_string() == "CN=api,OU=payments"
