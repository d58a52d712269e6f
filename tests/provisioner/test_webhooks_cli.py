"""``appliance ca provisioner webhook add|update|remove`` edit ca.json as ``step ca provisioner
webhook`` does, and the CA loads what they write."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from appliance.authority.authority import Authority
from appliance.db import open_database
from tests.ca_fixtures import TestCA, build_ca
from tests.cli.conftest import Client


def _hooks(ca: TestCA) -> list[dict]:
    (entry,) = json.loads(ca.config_path.read_text())["authority"]["provisioners"]
    assert "webhooks" not in entry  # step-ca's place only
    return list(entry.get("options", {}).get("webhooks", []))


def test_add_update_remove_a_webhook(tmp_path: Path) -> None:
    ca = build_ca(tmp_path / "ca")
    client = Client(tmp_path / "client")
    token = tmp_path / "token"
    token.write_text("abc123\n")
    added = client.ok("ca", "provisioner", "webhook", "add", ca.provisioner, "people", "--url",
                      "https://hr.test/{{ .Token.email }}", "--bearer-token-file", token,
                      "--ca-config", ca.config_path).stdout
    (hook,) = _hooks(ca)
    assert f"Webhook ID: {hook['id']}" in added and f"Signing Secret: {hook['secret']}" in added
    assert len(base64.b64decode(hook["secret"])) == 64
    assert hook["kind"] == "ENRICHING" and hook["bearerToken"] == "abc123" and hook["certType"] == "ALL"

    password = tmp_path / "password"
    password.write_text("p4ss\n")
    client.ok("ca", "provisioner", "webhook", "update", ca.provisioner, "people", "--kind", "authorizing",
              "--basic-auth-username", "ca", "--basic-auth-password-file", password, "--disable-tls-client-auth",
              "--ca-config", ca.config_path)
    (hook,) = _hooks(ca)
    assert hook["kind"] == "AUTHORIZING" and hook["basicAuth"] == {"username": "ca", "password": "p4ss"}
    assert "bearerToken" not in hook and hook["disableTLSClientAuth"] is True
    config = ca.config()
    authority = Authority.from_config(config, open_database(config.db), password=ca.password)
    assert [h.name for h in authority.provisioner(ca.provisioner).webhooks] == ["people"]
    authority.close()
    client.ok("ca", "provisioner", "webhook", "update", ca.provisioner, "people", "--kind", "notifying",
              "--ca-config", ca.config_path)
    assert _hooks(ca)[0]["kind"] == "NOTIFYING"
    authority.database.close()

    client.ok("ca", "provisioner", "webhook", "remove", ca.provisioner, "people", "--ca-config", ca.config_path)
    assert _hooks(ca) == []


def test_webhooks_in_our_old_place_are_moved_to_step_cas(tmp_path: Path) -> None:
    """A ca.json an older appliance wrote (top-level ``webhooks``): the next webhook command
    moves them to ``options.webhooks``, beside the provisioner's other options."""
    ca = build_ca(tmp_path / "ca")
    data = json.loads(ca.config_path.read_text())
    old = {"id": "1", "name": "old", "kind": "AUTHORIZING", "url": "https://gate.test/", "secret": "c2VjcmV0"}
    data["authority"]["provisioners"][0].update(webhooks=[old], options={"x509": {"templateData": {"a": 1}}})
    ca.config_path.write_text(json.dumps(data))
    client = Client(tmp_path / "client")
    client.ok("ca", "provisioner", "webhook", "add", ca.provisioner, "new", "--url", "https://hr.test/",
              "--ca-config", ca.config_path)
    assert [h["name"] for h in _hooks(ca)] == ["old", "new"] and _hooks(ca)[0] == old
    (entry,) = json.loads(ca.config_path.read_text())["authority"]["provisioners"]
    assert entry["options"]["x509"] == {"templateData": {"a": 1}}


def test_refusals_leave_ca_json_as_it_was(tmp_path: Path) -> None:
    ca = build_ca(tmp_path / "ca")
    client = Client(tmp_path / "client")
    before = ca.config_path.read_text()
    assert "no provisioner named 'nope'" in client.fails("ca", "provisioner", "webhook", "add", "nope", "w", "--url",
                                                         "https://x", "--ca-config", ca.config_path)
    assert "needs --url" in client.fails("ca", "provisioner", "webhook", "add", ca.provisioner, "w",
                                         "--ca-config", ca.config_path)
    assert "url" in client.fails("ca", "provisioner", "webhook", "add", ca.provisioner, "w", "--url",
                                 "https://x/{{ .Broken", "--ca-config", ca.config_path)
    assert "no webhook named 'w'" in client.fails("ca", "provisioner", "webhook", "remove", ca.provisioner, "w",
                                                  "--ca-config", ca.config_path)
    assert ca.config_path.read_text() == before
