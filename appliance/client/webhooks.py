"""``ca provisioner webhook``: add, update and remove a provisioner's webhooks in ca.json
(``options.webhooks``), as ``step ca provisioner webhook`` does (a new webhook gets an id and
a signing secret)."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from appliance.client.provisioners import CaJson
from appliance.errors import BadRequest, Conflict, NotFound
from appliance.provisioner.renamed import step_ca_names, webhook_list

SECRET_BYTES = 64


@dataclass(frozen=True)
class WebhookOptions:
    """What ``add``/``update`` set; ``None`` leaves a field as it is."""

    url: str | None = None
    kind: str | None = None
    cert_type: str | None = None
    bearer_token: str | None = None
    basic_username: str | None = None
    basic_password: str | None = None
    disable_tls_client_auth: bool | None = None


def _webhooks(ca_json: CaJson, provisioner: str) -> list[dict[str, Any]]:
    """The provisioner's ``options.webhooks`` (step-ca's place), into which webhooks in our
    old top-level place are moved."""
    provisioners = ca_json.provisioners
    matches = [i for i, p in enumerate(provisioners) if p.get("name") == provisioner]
    if not matches:
        raise NotFound(f"no provisioner named '{provisioner}' in {ca_json.path}")
    entry = provisioners[matches[0]] = step_ca_names(provisioners[matches[0]], f"provisioner '{provisioner}'")
    return webhook_list(entry, f"provisioner '{provisioner}'")


def apply_webhook_options(entry: dict[str, Any], options: WebhookOptions) -> dict[str, Any]:
    """Set on a ca.json webhook what ``options`` names."""
    if options.url is not None:
        entry["url"] = options.url
    if options.kind is not None:
        entry["kind"] = options.kind.upper()
    if options.cert_type is not None:
        entry["certType"] = options.cert_type.upper()
    if options.bearer_token is not None:
        entry.pop("basicAuth", None)
        entry["bearerToken"] = options.bearer_token
    if options.basic_username is not None or options.basic_password is not None:
        entry.pop("bearerToken", None)
        old = entry.get("basicAuth") or {}
        entry["basicAuth"] = {"username": options.basic_username if options.basic_username is not None
                              else old.get("username", ""),
                              "password": options.basic_password if options.basic_password is not None
                              else old.get("password", "")}
    if options.disable_tls_client_auth is not None:
        entry["disableTLSClientAuth"] = options.disable_tls_client_auth
    return entry


def add_webhook(ca_json: CaJson, provisioner: str, name: str, options: WebhookOptions) -> dict[str, Any]:
    """A new webhook with a random id and signing secret (printed once by the command)."""
    hooks = _webhooks(ca_json, provisioner)
    if any(h.get("name") == name for h in hooks):
        raise Conflict(f"provisioner '{provisioner}' already has a webhook named '{name}'")
    if not options.url:
        raise BadRequest("a webhook needs --url")
    entry = apply_webhook_options({"id": str(uuid.uuid4()), "name": name, "kind": "ENRICHING", "certType": "ALL",
                    "secret": base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()}, options)
    hooks.append(entry)
    return entry


def update_webhook(ca_json: CaJson, provisioner: str, name: str, options: WebhookOptions) -> dict[str, Any]:
    hooks = _webhooks(ca_json, provisioner)
    for entry in hooks:
        if entry.get("name") == name:
            return apply_webhook_options(entry, options)
    raise NotFound(f"provisioner '{provisioner}' has no webhook named '{name}'")


def remove_webhook(ca_json: CaJson, provisioner: str, name: str) -> None:
    hooks = _webhooks(ca_json, provisioner)
    kept = [h for h in hooks if h.get("name") != name]
    if len(kept) == len(hooks):
        raise NotFound(f"provisioner '{provisioner}' has no webhook named '{name}'")
    hooks[:] = kept
