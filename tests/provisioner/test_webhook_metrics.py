"""Webhook metrics: every call counted by kind and outcome (a real HTTPS webhook server on loopback)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from prometheus_client import REGISTRY

from appliance.provisioner.webhooks import WebhookDenied
from tests.ca_fixtures import PROVISIONER
from tests.provisioner.test_webhooks import WebhookServer, _hook, _sign, make, webhook_server  # noqa: F401


def _calls(kind: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("appliance_webhook_calls_total", {"kind": kind, "outcome": outcome}) or 0.0


def test_calls_are_counted_by_outcome(webhook_server: WebhookServer, make: Callable[..., Any]) -> None:
    authority, ca, _ = make(webhook_server, [_hook(webhook_server, "gate", "AUTHORIZING")])
    allowed, denied = _calls("AUTHORIZING", "ok"), _calls("AUTHORIZING", "denied")
    refused = {"provisioner": PROVISIONER, "type": "sign", "outcome": "refused"}
    before = REGISTRY.get_sample_value("appliance_issuance_total", refused) or 0.0
    _sign(authority, ca)
    webhook_server.reply = lambda body, path: (200, b'{"allow": false}')
    with pytest.raises(WebhookDenied):
        _sign(authority, ca)
    assert _calls("AUTHORIZING", "ok") == allowed + 1 and _calls("AUTHORIZING", "denied") == denied + 1
    assert REGISTRY.get_sample_value("appliance_issuance_total", refused) == before + 1  # labelled with its provisioner
