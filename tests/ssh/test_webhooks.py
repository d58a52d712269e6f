"""SSH webhooks (certType SSH/ALL): ENRICHING data reaches the SSH template, AUTHORIZING
sees the certificate and can deny it; against the real HTTPS webhook server of
tests/provisioner/test_webhooks.py (it checks the HMAC and the bearer token)."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.provisioner.webhooks import WebhookClient
from appliance.sshcert import parse_certificate
from tests.provisioner.test_webhooks import WebhookServer, _hook, webhook_server  # noqa: F401
from tests.ssh.conftest import SshCA

pytestmark = pytest.mark.slow
TEMPLATE = ('{"type": {{ toJson .Type }}, "keyId": {{ toJson .KeyID }}, '
            '"principals": {{ toJson .Webhooks.people.principals }}}')


def _ca(make_ssh_ca: Callable[..., SshCA], server: WebhookServer, hooks: list[dict[str, Any]]) -> SshCA:
    ssh_ca = make_ssh_ca(provisioner={"claims": {"enableSSHCA": True},
                                      "options": {"ssh": {"template": TEMPLATE}, "webhooks": hooks}})
    ssh_ca.authority.webhook_client = WebhookClient(timeout=5.0, cafile=server.cafile)
    return ssh_ca


def test_enriching_and_authorizing(make_ssh_ca: Callable[..., SshCA], webhook_server: WebhookServer) -> None:
    def reply(body: dict[str, Any], path: str) -> tuple[int, bytes]:
        if path == "/enrich":
            return 200, json.dumps({"allow": True, "data": {"principals": ["alice", "ops"]}}).encode()
        return 200, json.dumps({"allow": body["sshCertificate"]["keyId"] == "alice"}).encode()

    webhook_server.reply = reply
    ssh_ca = _ca(make_ssh_ca, webhook_server, [_hook(webhook_server, "people", "ENRICHING", "/enrich"),
                                               _hook(webhook_server, "gate", "AUTHORIZING", "/authorize",
                                                     certType="SSH")])
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    response = ssh_ca.sign(key, "alice")
    assert response.status_code == 201, response.text
    assert parse_certificate(response.json()["crt"]).valid_principals == [b"alice", b"ops"]
    enrich, authorize = (r["body"] for r in webhook_server.requests)
    assert enrich["sshCertificateRequest"]["keyID"] == "alice" and enrich["sshCertificateRequest"]["type"] == "user"
    assert authorize["sshCertificate"]["principals"] == ["alice", "ops"]

    denied = ssh_ca.sign(key, "bob")
    assert denied.status_code == 403 and "webhook 'gate' denied" in denied.json()["message"]


def test_x509_only_webhooks_are_not_called(make_ssh_ca: Callable[..., SshCA], webhook_server: WebhookServer) -> None:
    ssh_ca = make_ssh_ca(provisioner={"claims": {"enableSSHCA": True},
                                      "options": {"webhooks": [_hook(webhook_server, "x", "AUTHORIZING",
                                                                     certType="X509")]}})
    response = ssh_ca.sign(ed25519.Ed25519PrivateKey.generate().public_key(), "alice")
    assert response.status_code == 201 and webhook_server.requests == []
