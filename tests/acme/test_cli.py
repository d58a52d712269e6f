"""``appliance ca provisioner add --type ACME`` and ``appliance ca acme eab add|list|remove``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli.main import cli
from tests.ca_fixtures import build_ca


@pytest.fixture
def ca_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("APPLIANCE_PATH", str(tmp_path))
    return str(build_ca(tmp_path).config_path)


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_add_an_acme_provisioner_then_manage_eab_keys(ca_json: str) -> None:
    run("ca", "provisioner", "add", "acme", "--type", "ACME", "--challenge", "http-01", "--challenge", "dns-01",
        "--require-eab", "--ca-config", ca_json)
    entry = json.loads(Path(ca_json).read_text())["authority"]["provisioners"][-1]
    assert entry == {"type": "ACME", "name": "acme", "challenges": ["http-01", "dns-01"], "requireEAB": True}

    added = json.loads(run("ca", "acme", "eab", "add", "acme", "--key-id", "team-a", "--ca-config", ca_json))
    assert added["keyID"] == "team-a" and len(base64.urlsafe_b64decode(added["hmacKey"] + "=")) == 32
    random_id = json.loads(run("ca", "acme", "eab", "add", "acme", "--ca-config", ca_json))["keyID"]
    listed = json.loads(run("ca", "acme", "eab", "list", "acme", "--ca-config", ca_json))
    assert sorted(k["keyID"] for k in listed) == sorted(["team-a", random_id])
    assert all("hmacKey" not in k and k["account"] is None for k in listed)

    run("ca", "acme", "eab", "remove", "acme", "--key-id", "team-a", "--ca-config", ca_json)
    listed = json.loads(run("ca", "acme", "eab", "list", "acme", "--ca-config", ca_json))
    assert [k["keyID"] for k in listed] == [random_id]


def test_eab_commands_refuse_unknown_provisioners_and_duplicate_keys(ca_json: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["ca", "acme", "eab", "add", "nope", "--ca-config", ca_json])
    assert result.exit_code == 1 and "no ACME provisioner named 'nope'" in result.output
    run("ca", "provisioner", "add", "acme", "--type", "ACME", "--ca-config", ca_json)
    run("ca", "acme", "eab", "add", "acme", "--key-id", "k", "--ca-config", ca_json)
    result = runner.invoke(cli, ["ca", "acme", "eab", "add", "acme", "--key-id", "k", "--ca-config", ca_json])
    assert result.exit_code == 1 and "already has an EAB key 'k'" in result.output
    result = runner.invoke(cli, ["ca", "acme", "eab", "remove", "acme", "--key-id", "other", "--ca-config", ca_json])
    assert result.exit_code == 1 and "has no EAB key 'other'" in result.output
