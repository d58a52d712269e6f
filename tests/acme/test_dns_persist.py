"""dns-persist-01 (draft-ietf-acme-dns-persist): standing ``_validation-persist`` TXT
records in the test DNS server, orders driven by the test client, the ACME server's
clock injected; certificates verified with openssl."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509

from appliance.acme.persist import PersistRecord, RecordError, parse_record
from appliance.errors import ApplianceError
from tests.acme.client import AcmeClient
from tests.acme.conftest import AcmeEnv, start
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.acme.test_flows import openssl_verify
from tests.ca_fixtures import make_csr
from tests.clock import FakeClock

PERSIST = "dns-persist-01"
URN = "urn:ietf:params:acme:error:"
ISSUERS = ["ca.test", "authority.example"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def env(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer], clock: FakeClock) -> Iterator[AcmeEnv]:
    running = start(tmp_path, responders, now=clock.now, challenges=["dns-01", PERSIST],
                    issuerDomainNames=["CA.Test.", "authority.example", "ca.test"],
                    policy={"x509": {"allowWildcardNames": True}})
    yield running
    running.server.close()
    running.database.close()


def record(client: AcmeClient, *parameters: str, issuer: str = "ca.test") -> str:
    return "; ".join([issuer, f"accounturi={client.account_url}", *parameters])


def publish(env: AcmeEnv, name: str, *records: str) -> None:
    """Set (none: remove) the TXT records at ``_validation-persist.<name>``."""
    env.dns.txt[f"_validation-persist.{name}"] = list(records)
    if not records:
        del env.dns.txt[f"_validation-persist.{name}"]


def order_challenge(client: AcmeClient, name: str) -> tuple[str, dict[str, Any]]:
    """A new order for ``name``: its URL and its dns-persist-01 challenge."""
    created = client.new_order(name)
    assert created.status_code == 201, created.text
    authz = client.post(created.json()["authorizations"][0]).json()
    return created.headers["Location"], next(c for c in authz["challenges"] if c["type"] == PERSIST)


def validate(client: AcmeClient, name: str) -> dict[str, Any]:
    """Order ``name``, answer its dns-persist-01 challenge with ``{}``: the challenge once decided."""
    _, challenge = order_challenge(client, name)
    answered = client.post(challenge["url"], {})
    assert answered.status_code == 200, answered.text
    return client.poll(challenge["url"])


def refused(client: AcmeClient, name: str, problem: str) -> str:
    challenge = validate(client, name)
    assert challenge["status"] == "invalid", challenge
    assert challenge["error"]["type"] == URN + problem, challenge["error"]
    return str(challenge["error"]["detail"])


def issue(env: AcmeEnv, client: AcmeClient, name: str, tmp_path: Path) -> x509.Certificate:
    """A full order for ``name`` answered by dns-persist-01; the leaf, verified by openssl."""
    order_url, challenge = order_challenge(client, name)
    assert "token" not in challenge and challenge["issuer-domain-names"] == ISSUERS
    assert client.post(challenge["url"], {}).status_code == 200
    assert client.poll(challenge["url"])["status"] == "valid"
    order = client.poll(order_url, ("ready", "invalid"))
    assert order["status"] == "ready", order
    csr, _ = make_csr(name, [name])
    finalized = client.finalize(order, csr)
    assert finalized.status_code == 200, finalized.text
    chain = client.post(finalized.json()["certificate"]).text
    leaf = openssl_verify(env, chain, tmp_path)[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [name]
    return leaf


def test_one_record_serves_two_orders(env: AcmeEnv, tmp_path: Path) -> None:
    client = env.account()
    publish(env, "example.test", record(client))
    first = issue(env, client, "example.test", tmp_path)
    second = issue(env, client, "example.test", tmp_path)
    assert first.serial_number != second.serial_number
    assert env.dns.txt == {"_validation-persist.example.test": [record(client)]}


def test_wildcard_needs_policy_wildcard(env: AcmeEnv, tmp_path: Path) -> None:
    client = env.account()
    publish(env, "example.test", record(client))
    assert "policy=wildcard" in refused(client, "*.example.test", "unauthorized")
    publish(env, "example.test", record(client, "policy=WildCard"))
    issue(env, client, "*.example.test", tmp_path)


def test_subdomains_need_policy_wildcard_on_the_parent(env: AcmeEnv) -> None:
    client = env.account()
    publish(env, "example.test", record(client))
    assert "_validation-persist.example.test: it lacks policy=wildcard" in refused(
        client, "www.dept.example.test", "unauthorized")
    publish(env, "example.test", record(client, "policy=wildcard"))
    assert validate(client, "www.dept.example.test")["status"] == "valid"
    assert validate(client, "example.test")["status"] == "valid"
    publish(env, "example.test")
    publish(env, "www.example.test", record(client))  # the name's own record needs no policy
    assert validate(client, "www.example.test")["status"] == "valid"
    assert "names this CA" in refused(client, "other.example.test", "unauthorized")


def test_another_accounts_record_is_refused(env: AcmeEnv) -> None:
    owner, other = env.account(), env.account()
    publish(env, "example.test", record(owner, "policy=wildcard"))
    assert "not this account's URL" in refused(other, "example.test", "unauthorized")
    publish(env, "example.test", record(owner).replace("https://", "HTTPS://"))
    assert "not this account's URL" in refused(owner, "example.test", "unauthorized")  # exact comparison


def test_another_issuer_is_refused(env: AcmeEnv) -> None:
    client = env.account()
    publish(env, "example.test", record(client, issuer="other-ca.example"))
    assert "names this CA (ca.test, authority.example)" in refused(client, "example.test", "unauthorized")
    publish(env, "example.test")
    assert "no TXT record" in refused(client, "example.test", "unauthorized")


@pytest.mark.parametrize("text", [
    "Authority.Example.;accounturi={url}",
    "\t ca.test \t;\taccounturi = {url} ;\tPersistUntil=99999999999 ; future-tag=anything",
    "ca.test; ACCOUNTURI={url}; policy=none",
])
def test_issuer_case_whitespace_and_unknown_tags(env: AcmeEnv, text: str) -> None:
    client = env.account()
    publish(env, "example.test", text.format(url=client.account_url))
    assert validate(client, "example.test")["status"] == "valid"


def test_expired_persist_until_is_refused(env: AcmeEnv, clock: FakeClock) -> None:
    client = env.account()
    until = int(clock.now().timestamp()) + 60
    publish(env, "example.test", record(client, f"persistUntil={until}"))
    assert validate(client, "example.test")["status"] == "valid"
    clock.advance(61)
    assert "persistUntil has passed" in refused(client, "example.test", "unauthorized")


@pytest.mark.parametrize("text, reason", [
    ("ca.test; accounturi={url}; accounturi={url}", "accounturi is given twice"),
    ("ca.test; accounturi={url}; persistUntil=tomorrow", "persistUntil is not a number"),
    ("ca.test; accounturi={url}; persistUntil=-5", "persistUntil is not a number"),
    ("ca.test", "no accounturi"),
    ("ca.test; policy=wildcard", "no accounturi"),
    ("ca.test; accounturi={url};", "not tag=value"),
    ("ca.test; accounturi", "not tag=value"),
    ("ca.test; accounturi={url}; _x=1", "not tag=value"),
    ("ca.test; accounturi={url} with spaces", "a character a CAA value may not"),
    ("ca.test; accounturi={url}; note=caf\u00e9", "a character a CAA value may not"),
])
def test_malformed_records_are_refused(env: AcmeEnv, text: str, reason: str) -> None:
    client = env.account()
    publish(env, "example.test", text.format(url=client.account_url))
    assert reason in refused(client, "example.test", "malformed")
    assert env.counts()["acme_challenges.status"] == ["invalid", "pending"]  # the dns-01 one is untouched


def test_a_record_with_a_bad_issuer_name_is_not_this_cas(env: AcmeEnv) -> None:
    client = env.account()
    publish(env, "example.test", f"ca..test; accounturi={client.account_url}", f";accounturi={client.account_url}")
    assert "names this CA" in refused(client, "example.test", "unauthorized")


def test_one_matching_record_among_many(env: AcmeEnv) -> None:
    client, other = env.account(), env.account()
    publish(env, "example.test", "other-ca.example; accounturi=https://other-ca.example/acct/1",
            "garbage;;;", "v=spf1 -all", record(other), record(client))
    assert validate(client, "example.test")["status"] == "valid"


def test_the_challenge_is_offered_for_dns_names_only(env: AcmeEnv) -> None:
    client = env.account()
    wildcard = client.post(client.new_order("*.example.test").json()["authorizations"][0]).json()
    assert sorted(c["type"] for c in wildcard["challenges"]) == ["dns-01", PERSIST]
    ip = client.new_order("192.0.2.7")
    assert ip.status_code == 403 and "no enabled challenge" in ip.json()["detail"]


@pytest.mark.parametrize("fields, message", [
    ({"challenges": [PERSIST]}, f"{PERSIST} needs 'issuerDomainNames'"),
    ({"challenges": ["dns-01"], "issuerDomainNames": ["ca.test"]}, "'issuerDomainNames' is set but 'challenges'"),
    ({"issuerDomainNames": ["ca.test"]}, "'issuerDomainNames' is set but 'challenges'"),
    ({"challenges": [PERSIST], "issuerDomainNames": ["not a name"]}, "'issuerDomainNames': 'not a name' is not"),
    ({"challenges": [PERSIST], "issuerDomainNames": "ca.test"}, "'issuerDomainNames' must be a list of strings"),
    ({"challenges": [PERSIST], "issuerDomainNames": [f"ca{i}.test" for i in range(11)]}, "at most 10 names"),
])
def test_bad_settings_refuse_to_load(tmp_path: Path, fields: dict[str, Any], message: str,
                                     responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> None:
    with pytest.raises(ApplianceError, match=message):
        start(tmp_path, responders, **fields)


@pytest.mark.parametrize("text, parsed", [
    ("ca.test;accounturi=u", PersistRecord("ca.test", "u", False, None)),
    ("CA.test. ; AccountURI=u ; Policy=WILDCARD ; persistuntil=7", PersistRecord("ca.test", "u", True, 7)),
    ("ca.test; accounturi=u; policy=narrow; x-y=1", PersistRecord("ca.test", "u", False, None)),
    ("b\u00fccher.example; accounturi=u", PersistRecord("xn--bcher-kva.example", "u", False, None)),
])
def test_parse_record(text: str, parsed: PersistRecord) -> None:
    assert parse_record(text) == parsed


def test_a_bad_record_keeps_its_issuer() -> None:
    with pytest.raises(RecordError) as caught:
        parse_record("Other.Example; policy=wildcard")
    assert caught.value.issuer == "other.example"
