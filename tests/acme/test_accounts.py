"""Accounts (lookup, update, deactivate, key rollover), EAB, revocation both ways, ARI."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from jwcrypto import jwk

from appliance.acme.models import EabKey
from appliance.acme.renewal import cert_id
from tests.acme.client import AcmeClient, b64, public, sign_jws
from tests.acme.conftest import AcmeEnv, acme_provisioner, start
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.acme.test_bad_requests import assert_problem, unchanged
from tests.acme.test_flows import answer
from tests.ca_fixtures import make_csr


def issued(env: AcmeEnv, client: AcmeClient, name: str = "a.example.test", **order: object
           ) -> tuple[x509.Certificate, object]:
    """A certificate for ``name`` through a full http-01 order, and its key."""
    created = client.new_order(name, **order)
    assert created.status_code == 201, created.text
    for authz_url in created.json()["authorizations"]:
        assert answer(env, client, client.post(authz_url).json(), "http-01")["status"] == "valid"
    csr, key = make_csr(name)
    final = client.finalize(client.post(created.headers["Location"]).json(), csr).json()
    chain = client.post(final["certificate"]).text
    return x509.load_pem_x509_certificates(chain.encode())[0], key


def test_account_lookup_update_and_deactivation(env: AcmeEnv) -> None:
    client = env.account()
    again = client.register()
    assert again.status_code == 200 and again.headers["Location"] == client.account_url
    stranger = env.client()
    assert_problem(stranger.post(stranger.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True),
                   "accountDoesNotExist", 400)
    found = client.post(client.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
    assert found.status_code == 200 and found.headers["Location"] == client.account_url
    updated = client.post(client.account_url, {"contact": ["mailto:new@example.test"]}).json()
    assert updated["contact"] == ["mailto:new@example.test"] and updated["status"] == "valid"
    assert_problem(client.post(client.account_url, {"contact": ["tel:123"]}), "unsupportedContact", 400)
    assert client.post(client.account_url, {"status": "deactivated"}).json()["status"] == "deactivated"
    assert_problem(client.new_order("a.example.test"), "unauthorized", 403)


def test_key_rollover(env: AcmeEnv) -> None:
    client = env.account()
    old_key, new_key = client.key, jwk.JWK.generate(kty="OKP", crv="Ed25519")
    url = client.directory["keyChange"]
    inner = sign_jws(new_key, {"alg": "EdDSA", "jwk": public(new_key), "url": url},
                     json.dumps({"account": client.account_url, "oldKey": public(old_key)}).encode())
    wrong_old = sign_jws(new_key, {"alg": "EdDSA", "jwk": public(new_key), "url": url},
                         json.dumps({"account": client.account_url, "oldKey": public(new_key)}).encode())
    assert_problem(unchanged(env, lambda: client.post(url, wrong_old)), "unauthorized", 403)
    assert client.post(url, inner).status_code == 200
    assert_problem(client.new_order("a.example.test"), "malformed", 400)  # the old key no longer signs
    client.key = new_key
    assert client.new_order("a.example.test").status_code == 201
    other = env.account()
    taken = sign_jws(new_key, {"alg": "EdDSA", "jwk": public(new_key), "url": url},
                     json.dumps({"account": other.account_url, "oldKey": public(other.key)}).encode())
    assert other.post(url, taken).status_code == 409


def test_authorization_deactivation(env: AcmeEnv) -> None:
    client = env.account()
    created = client.new_order("a.example.test")
    authz_url = created.json()["authorizations"][0]
    assert client.post(authz_url, {"status": "deactivated"}).json()["status"] == "deactivated"
    assert client.post(created.headers["Location"]).json()["status"] == "invalid"


def test_failed_validation_makes_the_order_invalid(env: AcmeEnv) -> None:
    client = env.account()
    created = client.new_order("a.example.test")
    authz = client.post(created.json()["authorizations"][0]).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    env.web.tokens[challenge["token"]] = "wrong"
    client.post(challenge["url"], {})
    result = client.poll(challenge["url"])
    assert result["status"] == "invalid"
    assert result["error"]["type"] == "urn:ietf:params:acme:error:incorrectResponse"
    assert len([p for p in env.web.requests if challenge["token"] in p]) == 2  # bounded retries
    assert client.post(created.headers["Location"]).json()["status"] == "invalid"


@pytest.fixture
def eab_env(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> Iterator[AcmeEnv]:
    running = start(tmp_path, responders, requireEAB=True)
    running.store.add_eab_key(EabKey("acme", "kid-1", b"k" * 32, datetime.datetime.now(datetime.timezone.utc)))
    yield running
    running.server.close()
    running.database.close()


def binding(client: AcmeClient, key_id: str, secret: bytes) -> dict[str, str]:
    protected = b64(json.dumps({"alg": "HS256", "kid": key_id, "url": client.directory["newAccount"]}).encode())
    payload = b64(json.dumps(public(client.key)).encode())
    mac = hmac.new(secret, f"{protected}.{payload}".encode(), hashlib.sha256).digest()
    return {"protected": protected, "payload": payload, "signature": b64(mac)}


def test_external_account_binding(eab_env: AcmeEnv) -> None:
    env = eab_env
    assert env.http.get(env.directory()).json()["meta"]["externalAccountRequired"] is True
    client = env.client()
    assert_problem(unchanged(env, client.register), "externalAccountRequired", 400)
    assert_problem(unchanged(env, lambda: client.register(externalAccountBinding=binding(client, "kid-1", b"x" * 32))),
                   "unauthorized", 403)
    assert_problem(unchanged(env, lambda: client.register(externalAccountBinding=binding(client, "nope", b"k" * 32))),
                   "unauthorized", 403)
    assert client.register(externalAccountBinding=binding(client, "kid-1", b"k" * 32)).status_code == 201
    assert env.store.get_eab_key("acme", "kid-1").account_id == client.account_url.rsplit("/", 1)[1]
    second = env.client()
    assert_problem(unchanged(env, lambda: second.register(externalAccountBinding=binding(second, "kid-1", b"k" * 32))),
                   "unauthorized", 403)


def test_revocation_by_account_and_by_certificate_key(env: AcmeEnv) -> None:
    client = env.account()
    url = client.directory["revokeCert"]
    certificate, key = issued(env, client)
    der = b64(certificate.public_bytes(Encoding.DER))
    stranger = env.account()
    assert_problem(unchanged(env, lambda: stranger.post(url, {"certificate": der})), "unauthorized", 403)
    assert_problem(unchanged(env, lambda: client.post(url, {"certificate": der, "reason": 7})), "badRevocationReason", 400)
    assert client.post(url, {"certificate": der, "reason": 4}).status_code == 200
    revocation = env.database.get_revocation(str(certificate.serial_number))
    assert revocation is not None and revocation.reason_code == 4 and revocation.provisioner == "acme"
    assert_problem(client.post(url, {"certificate": der}), "alreadyRevoked", 400)

    second, second_key = issued(env, client, "b.example.test")
    cert_key = env.client(key=jwk.JWK.from_pyca(second_key))
    revoked = cert_key.post(url, {"certificate": b64(second.public_bytes(Encoding.DER))}, use_jwk=True)
    assert revoked.status_code == 200, revoked.text
    assert env.database.get_revocation(str(second.serial_number)) is not None


def test_renewal_information_and_replaces(env: AcmeEnv) -> None:
    client = env.account()
    directory = client.directory
    certificate, _ = issued(env, client)
    identifier = cert_id(certificate)
    info = env.http.get(f"{directory['renewalInfo']}/{identifier}")
    assert info.status_code == 200 and int(info.headers["Retry-After"]) > 0
    window = info.json()["suggestedWindow"]
    start = datetime.datetime.fromisoformat(window["start"].replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(window["end"].replace("Z", "+00:00"))
    life = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert abs(start - (certificate.not_valid_before_utc + life * 2 / 3)) < datetime.timedelta(seconds=2)
    assert abs(end - (certificate.not_valid_before_utc + life * 5 / 6)) < datetime.timedelta(seconds=2)
    assert env.http.get(f"{directory['renewalInfo']}/AAAA.AAAA").status_code == 404

    other = env.account()
    assert_problem(unchanged(env, lambda: other.new_order("a.example.test", replaces=identifier)), "malformed", 400)
    renewed, _ = issued(env, client, "a.example.test", replaces=identifier)
    assert renewed.serial_number != certificate.serial_number
    assert env.store.certificate_by_cert_id(identifier).replaced_by is not None
    assert_problem(client.new_order("a.example.test", replaces=identifier), "alreadyReplaced", 409)


def test_renewal_information_says_renew_now_once_revoked(env: AcmeEnv) -> None:
    client = env.account()
    certificate, _ = issued(env, client)
    url = f"{client.directory['renewalInfo']}/{cert_id(certificate)}"
    before = env.http.get(url).json()["suggestedWindow"]
    revoked = client.post(client.directory["revokeCert"], {"certificate": b64(certificate.public_bytes(Encoding.DER))})
    assert revoked.status_code == 200, revoked.text
    window = env.http.get(url).json()["suggestedWindow"]
    start = datetime.datetime.fromisoformat(window["start"].replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(window["end"].replace("Z", "+00:00"))
    now = datetime.datetime.now(datetime.timezone.utc)
    assert window != before and start < end <= now + datetime.timedelta(seconds=1)


def test_directory_nonce_and_other_provisioners(tmp_path: Path,
                                                responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> None:
    env = start(tmp_path, responders, acme_provisioner("second", challenges=["dns-01"]),
                termsOfService="https://ca.test/tos", website="https://ca.test", caaIdentities=["ca.test"])
    try:
        for prefix in ("/acme", "/2.0/acme"):
            directory = env.http.get(f"https://ca.test{prefix}/acme/directory").json()
            assert directory["newNonce"] == f"https://ca.test{prefix}/acme/new-nonce"
            assert directory["meta"] == {"externalAccountRequired": False, "termsOfService": "https://ca.test/tos",
                                         "website": "https://ca.test", "caaIdentities": ["ca.test"]}
        head = env.http.head("https://ca.test/acme/acme/new-nonce")
        get = env.http.get("https://ca.test/acme/acme/new-nonce")
        assert (head.status_code, get.status_code) == (200, 204)
        assert head.headers["Cache-Control"] == "no-store" and head.headers["Replay-Nonce"] != get.headers["Replay-Nonce"]
        assert env.http.get("https://ca.test/acme/admin@ca.test/directory").status_code == 404  # a JWK provisioner
        other = env.client("second")
        other.register()
        authz = other.post(other.new_order("a.example.test").json()["authorizations"][0]).json()
        assert [c["type"] for c in authz["challenges"]] == ["dns-01"]
        assert_problem(other.new_order("127.0.0.1"), "rejectedIdentifier", 403)  # no dns-01 for IPs
    finally:
        env.server.close()
        env.database.close()


def test_retention_purges_expired_orders_authorizations_and_nonces(env: AcmeEnv) -> None:
    client = env.account()
    certificate, _ = issued(env, client)
    client.new_order("pending.example.test")
    nonce = env.server.new_nonce()
    assert env.counts()["acme_orders"] == 2
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    assert env.database.purge_expired(later)["orders"] == 2
    counts = env.counts()
    assert (counts["acme_orders"], counts["acme_authorizations"], counts["acme_challenges"]) == (0, 0, 0)
    assert counts["acme_accounts"] == 1 and counts["acme_certificates"] == 1
    assert not env.store.use_nonce(nonce, datetime.datetime.now(datetime.timezone.utc))
    assert env.http.get(f"{client.directory['renewalInfo']}/{cert_id(certificate)}").status_code == 200
