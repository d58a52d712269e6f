"""``appliance ca acme eab add|list|remove``: External Account Binding keys of an
ACME provisioner, stored in the CA's database (step-ca leaves this to its paid product)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import click

from appliance.acme.models import EabKey
from appliance.cli.options import ca_config_option, default_path
from appliance.client.settings import ClientPaths, resolve_ca_config
from appliance.config import load_config
from appliance.db import open_database
from appliance.acme.sql_store import SQLAcmeStore
from appliance.errors import NotFound
from appliance.jose.b64 import b64encode
from appliance.pki.clock import utc_now

HMAC_KEY_BYTES = 32


def _store(ca_config: str | None, provisioner: str) -> SQLAcmeStore:
    """The ACME store of the CA whose ca.json has an ACME provisioner called ``provisioner``."""
    config = load_config(resolve_ca_config(ClientPaths.at(default_path()), ca_config), report=False)
    if not any(p.get("name") == provisioner and str(p.get("type", "")).upper() == "ACME"
               for p in config.authority.provisioners):
        raise NotFound(f"no ACME provisioner named '{provisioner}' in {config.path}")
    return SQLAcmeStore(open_database(config.db))


def _describe(key: EabKey) -> dict[str, Any]:
    return {"provisioner": key.provisioner, "keyID": key.key_id, "createdAt": key.created_at.isoformat(),
            "account": key.account_id, "boundAt": key.bound_at.isoformat() if key.bound_at else None}


@click.group()
def acme() -> None:
    """ACME administration."""


@acme.group()
def eab() -> None:
    """External Account Binding keys (RFC 8555 section 7.3.4)."""


@eab.command()
@click.argument("provisioner")
@click.option("--key-id", help="The key identifier (default: random).")
@ca_config_option
def add(provisioner: str, key_id: str | None, ca_config: str | None) -> None:
    """Create a key; prints its id and base64url HMAC key (shown only once)."""
    store = _store(ca_config, provisioner)
    key = EabKey(provisioner=provisioner, key_id=key_id or secrets.token_urlsafe(16),
                 hmac_key=secrets.token_bytes(HMAC_KEY_BYTES), created_at=utc_now())
    try:
        store.add_eab_key(key)
    finally:
        store.close()
    click.echo(json.dumps({**_describe(key), "hmacKey": b64encode(key.hmac_key)}, indent=2))


@eab.command("list")
@click.argument("provisioner")
@ca_config_option
def list_keys(provisioner: str, ca_config: str | None) -> None:
    """Print the provisioner's keys (without their HMAC keys) as JSON."""
    store = _store(ca_config, provisioner)
    try:
        keys = store.list_eab_keys(provisioner)
    finally:
        store.close()
    click.echo(json.dumps([_describe(k) for k in keys], indent=2))


@eab.command()
@click.argument("provisioner")
@click.option("--key-id", required=True, help="The key to remove.")
@ca_config_option
def remove(provisioner: str, key_id: str, ca_config: str | None) -> None:
    """Remove a key (an account already bound with it stays registered)."""
    store = _store(ca_config, provisioner)
    try:
        removed = store.remove_eab_key(provisioner, key_id)
    finally:
        store.close()
    if not removed:
        raise NotFound(f"provisioner '{provisioner}' has no EAB key '{key_id}'")
    click.echo(f"Removed EAB key '{key_id}' of provisioner '{provisioner}'.", err=True)
