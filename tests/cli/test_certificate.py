"""``appliance certificate inspect|fingerprint|verify`` on certificates issued by an
in-process authority, checked against openssl's view of the same files."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.authority.authority import Authority
from appliance.authority.interfaces import SignRequest
from appliance.db import open_database
from tests.ca_fixtures import TestCA, build_ca, make_csr
from tests.cli.conftest import Client


@dataclass
class Issued:
    ca: TestCA
    bundle: Path  # leaf + intermediate
    leaf: x509.Certificate


def _pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


@pytest.fixture
def issued(tmp_path: Path) -> Iterator[Issued]:
    ca = build_ca(tmp_path / "ca")
    config = ca.config()
    authority = Authority.from_config(config, open_database(config.db), password=ca.password)
    try:
        csr, _ = make_csr("svc.example", ["svc.example", "10.0.0.7"])
        leaf = authority.sign(SignRequest(csr=csr, token=ca.token("svc.example", sans=["svc.example", "10.0.0.7"])))
    finally:
        authority.close()
        authority.database.close()
    bundle = tmp_path / "svc.crt"
    bundle.write_bytes(_pem(leaf.certificate, *leaf.chain))
    return Issued(ca, bundle, leaf.certificate)


def test_fingerprint_matches_openssl(client: Client, issued: Issued, openssl: Callable[..., Any]) -> None:
    ours = client.ok("certificate", "fingerprint", issued.bundle).stdout.strip()
    theirs = openssl("x509", "-in", issued.bundle, "-noout", "-fingerprint", "-sha256").stdout
    assert ours == theirs.strip().split("=", 1)[1].replace(":", "").lower()
    assert client.ok("certificate", "fingerprint", issued.ca.root_path).stdout.strip() == issued.ca.fingerprint
    assert len(client.ok("certificate", "fingerprint", issued.bundle, "--bundle").stdout.split()) == 2


def test_fingerprint_of_a_der_file(client: Client, issued: Issued, tmp_path: Path) -> None:
    der = tmp_path / "root.der"
    der.write_bytes(issued.ca.root.public_bytes(serialization.Encoding.DER))
    assert client.ok("certificate", "fingerprint", der).stdout.strip() == issued.ca.fingerprint


def test_inspect_json(client: Client, issued: Issued, openssl: Callable[..., Any]) -> None:
    data = json.loads(client.ok("certificate", "inspect", issued.bundle, "--format", "json").stdout)
    serial = openssl("x509", "-in", issued.bundle, "-noout", "-serial").stdout.strip().split("=")[1]
    assert int(data["serial_number"]) == int(serial, 16) == issued.leaf.serial_number
    assert data["subject"] == "CN=svc.example" and data["issuer"] == issued.ca.intermediate.subject.rfc4514_string()
    assert data["subject_key_info"] == {"key_algorithm": "ECDSA", "curve": "secp256r1", "size": 256}
    extensions = data["extensions"]
    assert extensions["subject_alt_names"] == {"dns_names": ["svc.example"], "ip_addresses": ["10.0.0.7"]}
    assert extensions["extended_key_usage"] == ["serverAuth", "clientAuth"]
    assert extensions["basic_constraints"] == {"ca": False, "path_len": None}
    assert extensions["step_provisioner"]["type"] == "JWK"
    assert extensions["step_provisioner"]["name"] == issued.ca.provisioner
    assert extensions["step_provisioner"]["credential_id"] == issued.ca.provisioner_key.get("kid")
    assert datetime.datetime.fromisoformat(data["validity"]["end"]) == issued.leaf.not_valid_after_utc
    bundle = json.loads(client.ok("certificate", "inspect", issued.bundle, "--format", "json", "--bundle").stdout)
    assert [c["subject"] for c in bundle] == ["CN=svc.example", issued.ca.intermediate.subject.rfc4514_string()]


def test_inspect_text(client: Client, issued: Issued) -> None:
    text = client.ok("certificate", "inspect", issued.bundle).stdout
    assert text.startswith("Certificate:\n")
    for expected in (f"Serial number: {issued.leaf.serial_number}", "Subject: CN=svc.example", "svc.example",
                     "10.0.0.7", "Key algorithm: ECDSA", f"Name: {issued.ca.provisioner}"):
        assert expected in text


def test_verify_accepts_the_chain_like_openssl(client: Client, issued: Issued,
                                               openssl: Callable[..., Any]) -> None:
    openssl("verify", "-CAfile", issued.ca.root_path, "-untrusted", issued.bundle, issued.bundle)
    result = client.ok("certificate", "verify", issued.bundle, "--roots", issued.ca.root_path)
    assert result.stdout == ""
    client.ok("certificate", "verify", issued.bundle, "--roots", issued.ca.root_path, "--host", "10.0.0.7")


def test_verify_refuses(client: Client, issued: Issued, tmp_path: Path) -> None:
    other = build_ca(tmp_path / "other")
    leaf_only = tmp_path / "leaf.crt"
    leaf_only.write_bytes(_pem(issued.leaf))
    root = issued.ca.root_path
    assert "verification failed" in client.fails("certificate", "verify", issued.bundle, "--roots", other.root_path)
    assert "verification failed" in client.fails("certificate", "verify", leaf_only, "--roots", root)
    assert "verification failed" in client.fails("certificate", "verify", issued.bundle, "--roots", root,
                                                 "--host", "other.example")
