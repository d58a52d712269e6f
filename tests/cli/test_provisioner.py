"""``appliance ca provisioner``: edits ca.json in place, keeps every other field,
refuses edits the CA would not load, and leaves the file unchanged when it does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.jose import decrypt_jwk, generate_jwk, public_dict, thumbprint
from tests.ca_fixtures import TestCA, build_ca
from tests.cli.conftest import Client


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return build_ca(tmp_path / "ca")


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "new-password"
    path.write_text("provisioner secret\n")
    return path


def _provisioners(ca: TestCA) -> list[dict]:
    return json.loads(ca.config_path.read_text())["authority"]["provisioners"]


def test_list_prints_the_provisioners_as_json(client: Client, ca: TestCA) -> None:
    listed = json.loads(client.ok("ca", "provisioner", "list", "--ca-config", ca.config_path).stdout)
    assert listed == _provisioners(ca) and listed[0]["name"] == ca.provisioner


def test_list_finds_ca_json_under_appliance_path(tmp_path: Path) -> None:
    ca = build_ca(tmp_path / "client")  # $APPLIANCE_PATH/config/ca.json
    listed = json.loads(Client(tmp_path / "client").ok("ca", "provisioner", "list").stdout)
    assert [p["name"] for p in listed] == [ca.provisioner]


def test_add_creates_an_encrypted_jwk(client: Client, ca: TestCA, password_file: Path) -> None:
    before = json.loads(ca.config_path.read_text())
    client.ok("ca", "provisioner", "add", "ops", "--create", "--password-file", password_file,
              "--x509-default-dur", "2h", "--allow-renewal-after-expiry", "--ca-config", ca.config_path)
    after = json.loads(ca.config_path.read_text())
    (ops,) = [p for p in after["authority"]["provisioners"] if p["name"] == "ops"]
    assert ops["type"] == "JWK" and ops["claims"] == {"defaultTLSCertDuration": "2h", "allowRenewalAfterExpiry": True}
    private = decrypt_jwk(ops["encryptedKey"], b"provisioner secret")
    assert public_dict(private) == ops["key"] and ops["key"]["kid"] == thumbprint(private)
    assert "d" not in ops["key"]
    assert {k: v for k, v in after.items() if k != "authority"} == {k: v for k, v in before.items() if k != "authority"}
    load_config(ca.config_path)  # the CA loads it


def test_add_with_a_public_key_file(client: Client, ca: TestCA, tmp_path: Path) -> None:
    key = generate_jwk()
    public = tmp_path / "ops.pub.json"
    public.write_text(json.dumps({k: v for k, v in public_dict(key).items() if k != "kid"}))
    client.ok("ca", "provisioner", "add", "ops", "--public-key", public, "--ca-config", ca.config_path)
    (ops,) = [p for p in _provisioners(ca) if p["name"] == "ops"]
    assert ops["key"]["kid"] == thumbprint(key) and "encryptedKey" not in ops


def test_refused_edits_leave_the_file_unchanged(client: Client, ca: TestCA, password_file: Path,
                                                tmp_path: Path) -> None:
    original = ca.config_path.read_bytes()
    private = tmp_path / "private.json"
    private.write_text(generate_jwk().export(private_key=True))
    refusals = [
        (["add", ca.provisioner, "--create", "--password-file", password_file], "already exists"),
        (["add", "ops"], "--create"),
        (["add", "ops", "--public-key", private], "public JWK"),
        (["add", "ops", "--create", "--password-file", password_file, "--x509-min-dur", "soon"], "invalid duration"),
        (["add", "ops", "--create", "--password-file", password_file, "--x509-min-dur", "2h",
          "--x509-max-dur", "1h"], "max"),
        (["remove", "nobody"], "no provisioner named 'nobody'"),
        (["update", "nobody", "--disable-renewal"], "no provisioner named 'nobody'"),
    ]
    for args, message in refusals:
        assert message in client.fails("ca", "provisioner", *args, "--ca-config", ca.config_path), args
        assert ca.config_path.read_bytes() == original, args


def test_unknown_type_is_refused(client: Client, ca: TestCA) -> None:
    result = client.run("ca", "provisioner", "add", "pop", "--type", "FOO", "--ca-config", ca.config_path)
    assert result.exit_code == 2 and "FOO" in result.output


def test_update_claims_and_rotate_the_key(client: Client, ca: TestCA, password_file: Path) -> None:
    (old,) = _provisioners(ca)
    assert "defaultTLSCertDuration" in client.fails("ca", "provisioner", "update", ca.provisioner, "--x509-max-dur",
                                                    "12h", "--ca-config", ca.config_path)  # default stays 24h
    client.ok("ca", "provisioner", "update", ca.provisioner, "--disable-renewal", "--x509-max-dur", "12h",
              "--x509-default-dur", "1h", "--ca-config", ca.config_path)
    (updated,) = _provisioners(ca)
    assert updated["claims"] == {"maxTLSCertDuration": "12h", "defaultTLSCertDuration": "1h", "disableRenewal": True}
    assert updated["key"] == old["key"]
    client.ok("ca", "provisioner", "update", ca.provisioner, "--create", "--password-file", password_file,
              "--ca-config", ca.config_path)
    (rotated,) = _provisioners(ca)
    assert rotated["key"]["kid"] != old["key"]["kid"] and rotated["claims"] == updated["claims"]
    assert public_dict(decrypt_jwk(rotated["encryptedKey"], b"provisioner secret")) == rotated["key"]


def test_remove(client: Client, ca: TestCA, password_file: Path) -> None:
    client.ok("ca", "provisioner", "add", "ops", "--create", "--password-file", password_file,
              "--ca-config", ca.config_path)
    client.ok("ca", "provisioner", "remove", ca.provisioner, "--ca-config", ca.config_path)
    assert [p["name"] for p in _provisioners(ca)] == ["ops"]
