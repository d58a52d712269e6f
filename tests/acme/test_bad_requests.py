"""Bad JWS, replayed nonces, denied names and mismatched CSRs: each gets its ACME
problem type and leaves every ACME table (and the certificate table) unchanged."""

from __future__ import annotations

import json
from typing import Any, Callable

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from jwcrypto import jwk

from appliance.kms.faults import Fault, KmsUnavailable
from tests.acme.client import AcmeClient, b64, sign_jws
from tests.acme.conftest import AcmeEnv
from tests.acme.test_flows import answer
from tests.ca_fixtures import make_csr, new_key

PREFIX = "urn:ietf:params:acme:error:"


def assert_problem(response: httpx.Response, problem: str, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["Replay-Nonce"]
    assert response.headers["Link"].endswith('/directory>;rel="index"')
    body = response.json()
    assert body["type"] == PREFIX + problem and body["status"] == status
    return body


def unchanged(env: AcmeEnv, request: Callable[[], httpx.Response]) -> httpx.Response:
    before = env.counts()
    response = request()
    assert env.counts() == before
    return response


def order_url(client: AcmeClient) -> str:
    return client.new_order("x.example.test").headers["Location"]


def tampered(client: AcmeClient, url: str) -> dict[str, str]:
    body = client.body(url, {"identifiers": [{"type": "dns", "value": "a.example.test"}]})
    body["payload"] = b64(json.dumps({"identifiers": [{"type": "dns", "value": "b.example.test"}]}).encode())
    return body


def hs256(client: AcmeClient, url: str) -> dict[str, str]:
    secret = jwk.JWK.generate(kty="oct", size=256)
    return sign_jws(secret, {"alg": "HS256", "nonce": client.nonce(), "url": url, "kid": client.account_url},
                    b"{}", "HS256")


def alg_none(client: AcmeClient, url: str) -> dict[str, str]:
    header = {"alg": "none", "nonce": client.nonce(), "url": url, "kid": client.account_url}
    return {"protected": b64(json.dumps(header).encode()), "payload": b64(b"{}"), "signature": ""}


CASES: dict[str, tuple[Callable[[AcmeClient, str], dict[str, str]], str, int]] = {
    "wrong nonce": (lambda c, u: c.body(u, {"identifiers": []}, nonce="bm90LWEtbm9uY2U"), "badNonce", 400),
    "no nonce": (lambda c, u: c.body(u, {}, nonce=None), "badNonce", 400),
    "wrong url": (lambda c, u: c.body(u.replace("new-order", "new-account"), {}), "unauthorized", 403),
    "HS256": (hs256, "badSignatureAlgorithm", 400),
    "alg none": (alg_none, "badSignatureAlgorithm", 400),
    "tampered payload": (tampered, "malformed", 400),
    "unknown kid": (lambda c, u: c.body(u, {}, kid=c.account_url.rsplit("/", 1)[0] + "/nope"),
                    "accountDoesNotExist", 400),
    "kid of another provisioner's URL": (lambda c, u: c.body(u, {}, kid="https://ca.test/acme/other/account/x"),
                                         "accountDoesNotExist", 400),
    "jwk and kid": (lambda c, u: c.body(u, {}, jwk=c.key.export_public(as_dict=True)), "malformed", 400),
    "jwk instead of kid": (lambda c, u: c.body(u, {}, use_jwk=True), "malformed", 400),
    "signed by another key": (lambda c, u: c.body(u, {}, key=jwk.JWK.generate(kty="EC", crv="P-256")), "malformed", 400),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_jws_on_new_order(env: AcmeEnv, case: str) -> None:
    client = env.account()
    make, problem, status = CASES[case]
    url = client.directory["newOrder"]
    body = make(client, url)
    assert_problem(unchanged(env, lambda: client.send(url, body)), problem, status)


def test_a_replayed_request_is_refused_with_a_fresh_nonce(env: AcmeEnv) -> None:
    client = env.account()
    url = client.directory["newOrder"]
    body = client.body(url, {"identifiers": [{"type": "dns", "value": "r.example.test"}]})
    assert client.send(url, body).status_code == 201
    replay = unchanged(env, lambda: client.send(url, body))
    assert_problem(replay, "badNonce", 400)
    retried = client.post(url, {"identifiers": [{"type": "dns", "value": "r.example.test"}]})  # the fresh nonce works
    assert retried.status_code == 201


def test_a_forged_request_does_not_burn_the_nonce(env: AcmeEnv) -> None:
    client = env.account()
    url = client.directory["newOrder"]
    nonce = client.nonce()
    forged = client.body(url, {}, nonce=nonce, key=jwk.JWK.generate(kty="EC", crv="P-256"))
    assert_problem(client.send(url, forged), "malformed", 400)
    good = client.body(url, {"identifiers": [{"type": "dns", "value": "n.example.test"}]}, nonce=nonce)
    assert client.send(url, good).status_code == 201


def test_malformed_bodies(env: AcmeEnv) -> None:
    client = env.account()
    url = client.directory["newOrder"]
    for content in ("not json", "[]", json.dumps({"protected": "!!", "payload": "", "signature": ""})):
        assert_problem(unchanged(env, lambda: env.http.post(url, content=content,
                                                            headers={"Content-Type": "application/jose+json"})),
                       "malformed", 400)
    wrong_type = env.http.post(url, content=json.dumps(client.body(url, {})), headers={"Content-Type": "application/json"})
    assert_problem(wrong_type, "malformed", 400)


@pytest.mark.parametrize("names,problem", [
    (["denied.test"], "rejectedIdentifier"),
    (["ok.example.test", "www.denied.test"], "rejectedIdentifier"),
    (["not_a_name"], "rejectedIdentifier"),
])
def test_orders_for_refused_names(env: AcmeEnv, names: list[str], problem: str) -> None:
    client = env.account()
    body = assert_problem(unchanged(env, lambda: client.new_order(*names)), problem, 403)
    refused = [s["identifier"]["value"] for s in body["subproblems"]]
    assert refused == [n for n in names if "ok." not in n]
    assert all(s["type"] == PREFIX + "rejectedIdentifier" for s in body["subproblems"])


def test_unsupported_identifier_type(env: AcmeEnv) -> None:
    client = env.account()
    response = unchanged(env, lambda: client.post(client.directory["newOrder"],
                                                  {"identifiers": [{"type": "email", "value": "a@b.test"}]}))
    assert_problem(response, "unsupportedIdentifier", 400)


def ready_order(env: AcmeEnv, client: AcmeClient, *names: str) -> dict[str, Any]:
    created = client.new_order(*names)
    for authz_url in created.json()["authorizations"]:
        assert answer(env, client, client.post(authz_url).json(), "http-01")["status"] == "valid"
    order = client.post(created.headers["Location"]).json()
    assert order["status"] == "ready"
    return order


@pytest.mark.parametrize("csr_names", [["a.example.test"], ["a.example.test", "b.example.test", "c.example.test"],
                                       ["a.example.test", "z.example.test"]])
def test_finalize_with_a_csr_that_does_not_match(env: AcmeEnv, csr_names: list[str]) -> None:
    client = env.account()
    order = ready_order(env, client, "a.example.test", "b.example.test")
    csr, _ = make_csr(csr_names[0], csr_names)
    assert_problem(unchanged(env, lambda: client.finalize(order, csr)), "badCSR", 400)
    assert client.post(order["finalize"].rsplit("/", 1)[0]).json()["status"] == "ready"


def test_finalize_with_the_account_key_or_a_foreign_common_name(env: AcmeEnv) -> None:
    key = new_key()
    client = env.client(key=jwk.JWK.from_pyca(key))
    client.register()
    order = ready_order(env, client, "a.example.test")
    csr, _ = make_csr("a.example.test", ["a.example.test"], key=key)
    assert_problem(unchanged(env, lambda: client.finalize(order, csr)), "badCSR", 400)
    csr, _ = make_csr("other.example.test", ["a.example.test"])
    assert_problem(unchanged(env, lambda: client.finalize(order, csr)), "badCSR", 400)
    garbage = unchanged(env, lambda: client.post(order["finalize"], {"csr": "AAAA"}))
    assert_problem(garbage, "badCSR", 400)


def test_finalize_before_the_order_is_ready(env: AcmeEnv) -> None:
    client = env.account()
    order = client.new_order("a.example.test").json()
    csr, _ = make_csr("a.example.test")
    assert_problem(unchanged(env, lambda: client.finalize(order, csr)), "orderNotReady", 403)


def test_objects_of_another_account_are_not_found(env: AcmeEnv) -> None:
    owner, other = env.account(), env.account()
    created = owner.new_order("a.example.test")
    assert_problem(other.post(created.headers["Location"]), "malformed", 404)
    assert_problem(other.post(created.json()["authorizations"][0]), "malformed", 404)
    assert_problem(other.post(owner.account_url), "unauthorized", 403)


def test_finalize_while_the_key_is_unreachable_can_be_retried(env: AcmeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KMS outage at finalize is a 503 with Retry-After and leaves the order ready."""
    client = env.account()
    order = ready_order(env, client, "a.example.test")
    csr, _ = make_csr("a.example.test", ["a.example.test"])
    real = env.authority.sign_for_order

    def device_away(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(env.authority, "sign_for_order", real)
        raise KmsUnavailable("PKCS#11 token 'ca' is unavailable (device): no token", fault=Fault.DEVICE)

    monkeypatch.setattr(env.authority, "sign_for_order", device_away)
    response = client.finalize(order, csr)
    assert_problem(response, "serverInternal", 503)
    assert int(response.headers["Retry-After"]) > 0
    assert client.post(order["finalize"].rsplit("/", 1)[0]).json()["status"] == "ready"
    assert client.finalize(order, csr).json()["status"] == "valid"


def test_finalize_with_a_key_revoked_for_key_compromise(env: AcmeEnv) -> None:
    client = env.account()
    key = new_key()
    order = ready_order(env, client, "a.example.test")
    csr, _ = make_csr("a.example.test", ["a.example.test"], key=key)
    final = client.finalize(order, csr).json()
    certificate = client.post(final["certificate"]).text
    der = x509.load_pem_x509_certificates(certificate.encode())[0].public_bytes(Encoding.DER)
    revoked = client.post(client.directory["revokeCert"], {"certificate": b64(der), "reason": 1})
    assert revoked.status_code == 200, revoked.text
    again = ready_order(env, client, "a.example.test")
    assert_problem(client.finalize(again, csr), "badPublicKey", 400)
