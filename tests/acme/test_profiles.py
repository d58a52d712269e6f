"""ACME profiles (draft-ietf-acme-profiles): the directory lists them, new-order names
one, the order shows it and the certificate follows it; unknown ones are refused."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509

from appliance.errors import ApplianceError
from tests.acme.client import AcmeClient
from tests.acme.conftest import AcmeEnv, start
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.acme.test_flows import answer, openssl_verify
from tests.ca_fixtures import make_csr

PROFILES = {
    "shortlived": {"description": "6-day server certificates", "validity": "144h",
                   "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth"]},
    "client": {"description": "client certificates",
               "options": {"x509": {"template": '{"subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, '
                                                '"keyUsage": ["digitalSignature"], "extKeyUsage": ["clientAuth"]}'}}},
}


@pytest.fixture
def env(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> Iterator[AcmeEnv]:
    running = start(tmp_path, responders, profiles=PROFILES)
    yield running
    running.server.close()
    running.database.close()


def issue(env: AcmeEnv, client: AcmeClient, name: str, **extra: Any) -> tuple[dict[str, Any], x509.Certificate]:
    created = client.new_order(name, **extra)
    assert created.status_code == 201, created.text
    for authz_url in created.json()["authorizations"]:
        answer(env, client, client.post(authz_url).json(), "http-01")
    order = client.post(created.headers["Location"]).json()
    assert order["status"] == "ready", order
    finalized = client.finalize(order, make_csr(name, [name])[0])
    assert finalized.status_code == 200, finalized.text
    return finalized.json(), openssl_verify(env, client.post(finalized.json()["certificate"]).text, env.ca.root_path.parent)[0]


def lifetime(env: AcmeEnv, certificate: x509.Certificate) -> datetime.timedelta:
    backdate = env.authority.config.authority.backdate
    return certificate.not_valid_after_utc - certificate.not_valid_before_utc - backdate


def usages(certificate: x509.Certificate) -> tuple[x509.KeyUsage, list[x509.ObjectIdentifier]]:
    return (certificate.extensions.get_extension_for_class(x509.KeyUsage).value,
            list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value))


def test_directory_lists_the_profiles(env: AcmeEnv) -> None:
    meta = env.http.get(env.directory()).json()["meta"]
    assert meta["profiles"] == {"shortlived": "6-day server certificates", "client": "client certificates"}


def test_shortlived_profile_sets_validity_and_usages(env: AcmeEnv) -> None:
    client = env.account()
    order, certificate = issue(env, client, "short.example.test", profile="shortlived")
    assert order["profile"] == "shortlived"
    assert client.post(order["finalize"].replace("/finalize", "")).json()["profile"] == "shortlived"
    assert lifetime(env, certificate) == datetime.timedelta(days=6)
    key_usage, extended = usages(certificate)
    assert key_usage.digital_signature and not key_usage.key_encipherment
    assert extended == [x509.ExtendedKeyUsageOID.SERVER_AUTH]


def test_template_profile_and_no_profile(env: AcmeEnv) -> None:
    client = env.account()
    order, certificate = issue(env, client, "client.example.test", profile="client")
    assert usages(certificate)[1] == [x509.ExtendedKeyUsageOID.CLIENT_AUTH]
    order, certificate = issue(env, client, "plain.example.test")
    assert "profile" not in order
    assert lifetime(env, certificate) == datetime.timedelta(hours=24)
    assert usages(certificate)[1] == [x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.mark.parametrize("profile,problem", [
    ("classic", "invalidProfile"), ("SHORTLIVED", "invalidProfile"), (7, "malformed"), (["shortlived"], "malformed"),
])
def test_unknown_profile_is_refused_and_nothing_is_stored(env: AcmeEnv, profile: Any, problem: str) -> None:
    client = env.account()
    before = env.counts()
    response = client.new_order("x.example.test", profile=profile)
    assert response.status_code == 400
    assert response.json()["type"] == f"urn:ietf:params:acme:error:{problem}"
    assert env.counts() == before


@pytest.mark.parametrize("profiles,named", [
    ([], "'profiles' must map"),
    ({"p": {"lifetime": "1h"}}, "unsupported fields lifetime"),
    ({"p": {"validity": 6}}, "'validity' must be a duration"),
    ({"p": {"validity": "1m"}}, "profile 'p' of provisioner 'acme': maxTLSCertDuration is less than"),
    ({"p": {"keyUsage": ["digitalSignature"], "options": {}}}, "not both"),
    ({"p": {"options": {"x509": {"template": "{{ nope"}}}}, "profile 'p' of provisioner 'acme': options.x509 template"),
])
def test_bad_profiles_stop_the_ca_naming_them(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer],
                                              profiles: Any, named: str) -> None:
    with pytest.raises(ApplianceError) as refused:
        start(tmp_path, responders, profiles=profiles)
    assert named in refused.value.message
    assert "'acme'" in refused.value.message
