"""Full order flows: http-01, dns-01 and tls-alpn-01 against local responders;
certificates verified with openssl against the root and intermediate."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from appliance.acme.challenges import dns_txt_value
from appliance.acme.context import GO_ZERO_TIME, rfc3339
from appliance.provisioner import PROVISIONER_OID
from tests.acme.client import AcmeClient
from tests.acme.conftest import AcmeEnv
from tests.ca_fixtures import make_csr


def openssl_verify(env: AcmeEnv, chain_pem: str, tmp_path: Path) -> list[x509.Certificate]:
    certificates = x509.load_pem_x509_certificates(chain_pem.encode())
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(certificates[0].public_bytes(Encoding.PEM))
    result = subprocess.run(["openssl", "verify", "-CAfile", str(env.ca.root_path), "-untrusted",
                             str(env.ca.intermediate_path), str(leaf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return certificates


def answer(env: AcmeEnv, client: AcmeClient, authz: dict[str, Any], kind: str) -> dict[str, Any]:
    challenge = next(c for c in authz["challenges"] if c["type"] == kind)
    key_auth = client.key_authorization(challenge["token"])
    name = authz["identifier"]["value"]
    if kind == "http-01":
        env.web.tokens[challenge["token"]] = key_auth
    elif kind == "dns-01":
        env.dns.txt.setdefault(f"_acme-challenge.{name}", []).append(dns_txt_value(key_auth))
    else:
        env.alpn.serve(name, key_auth)
    response = client.post(challenge["url"], {})
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("processing", "valid")
    return client.poll(challenge["url"])


def issue(env: AcmeEnv, client: AcmeClient, names: list[str], kind: str,
          **order_fields: Any) -> tuple[dict[str, Any], str]:
    """Order (with ``order_fields``), answer every authorization with ``kind``, finalize, download: the order
    and the chain."""
    created = client.new_order(*names, **order_fields)
    assert created.status_code == 201, created.text
    order_url = created.headers["Location"]
    for authz_url in created.json()["authorizations"]:
        authz = client.post(authz_url).json()
        assert authz["status"] == "pending"
        assert answer(env, client, authz, kind)["status"] == "valid"
        assert client.post(authz_url).json()["status"] == "valid"
    order = client.post(order_url).json()
    assert order["status"] == "ready"
    csr, _ = make_csr(names[0], names)
    finalized = client.finalize(order, csr)
    assert finalized.status_code == 200, finalized.text
    order = finalized.json()
    assert order["status"] == "valid"
    download = client.post(order["certificate"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/pem-certificate-chain")
    return order, download.text


@pytest.mark.parametrize("kind,names", [
    ("http-01", ["www.example.test"]),
    ("http-01", ["a.example.test", "b.example.test", "127.0.0.1"]),
    ("dns-01", ["example.test", "*.example.test"]),
    ("tls-alpn-01", ["alpn.example.test"]),
])
def test_order_flow_issues_a_verifying_certificate(env: AcmeEnv, tmp_path: Path, kind: str, names: list[str]) -> None:
    client = env.account()
    order, chain = issue(env, client, names, kind)
    leaf, intermediate = openssl_verify(env, chain, tmp_path)
    assert intermediate == env.ca.intermediate
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted([*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress))]) == sorted(names)
    assert leaf.extensions.get_extension_for_oid(PROVISIONER_OID)
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 23.9 * 3600 < lifetime.total_seconds() <= 24 * 3600 + 61
    assert env.database.get_certificate(str(leaf.serial_number)) is not None
    assert [i["value"] for i in order["identifiers"]] == names


def test_go_zero_time_validity_reads_as_unset(env: AcmeEnv, tmp_path: Path) -> None:
    """smallstep's `step` 0.15 sends Go's zero time for notBefore/notAfter it leaves unset: step-ca reads
    it as unset, so the order carries no validity and the certificate gets the provisioner's default."""
    order, chain = issue(env, env.account(), ["zero.example.test"], "http-01", notBefore=GO_ZERO_TIME,
                         notAfter=GO_ZERO_TIME)
    assert "notBefore" not in order and "notAfter" not in order
    leaf, _ = openssl_verify(env, chain, tmp_path)
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 23.9 * 3600 < lifetime.total_seconds() <= 24 * 3600 + 61


@pytest.mark.parametrize("when,text", [
    (datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc), "0001-01-01T00:00:00Z"),
    (datetime.datetime(2030, 5, 6, 7, 8, 9, 999999, tzinfo=datetime.timezone.utc), "2030-05-06T07:08:09Z"),
])
def test_rfc3339_has_a_four_digit_year_and_whole_seconds(when: datetime.datetime, text: str) -> None:
    assert rfc3339(when) == text
