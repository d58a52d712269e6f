"""``appliance ca acme eab add|list|remove``: External Account Binding keys of an
ACME provisioner, stored in the CA's database (step-ca leaves this to its paid product)."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import click

from appliance.acme.models import EabKey
from appliance.cli.options import AdminOptions, admin_options, admin_session, ca_config_option, default_path
from appliance.client.settings import ClientPaths, resolve_ca_config
from appliance.config import load_config
from appliance.db import open_database
from appliance.acme.sql_store import SQLAcmeStore
from appliance.errors import BadRequest, NotFound
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


def _remote_key(key: dict[str, Any]) -> dict[str, Any]:
    """An admin API ``EABKey`` described as the local commands do (HMAC key in base64url)."""
    hmac_key = base64.b64decode(key.get("hmacKey") or "")
    return {"provisioner": key.get("provisioner"), "keyID": key.get("id"), "reference": key.get("reference", ""),
            "createdAt": key.get("createdAt"), "account": key.get("account") or None,
            "boundAt": key.get("boundAt"), **({"hmacKey": b64encode(hmac_key)} if hmac_key else {})}


@eab.command()
@click.argument("provisioner")
@click.option("--key-id", help="The key identifier (default: random; with --admin-*: chosen by the CA).")
@click.option("--reference", default="", help="With --admin-*: a unique name for the key (e.g. a host).")
@ca_config_option
@admin_options
def add(provisioner: str, key_id: str | None, reference: str, ca_config: str | None, admin_api: AdminOptions) -> None:
    """Create a key; prints its id and base64url HMAC key (shown only once). With the
    --admin-* options, through the CA's admin API (remote management)."""
    if admin_api.given:
        if key_id:
            raise BadRequest("--key-id is chosen by the CA with remote management")
        with admin_session(admin_api) as session:
            created = session.call("POST", f"/admin/acme/eab/{provisioner}", {"reference": reference})
        click.echo(json.dumps(_remote_key(created), indent=2))
        return
    if reference:
        raise BadRequest("--reference needs remote management (the --admin-* options)")
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
@click.option("--reference", default="", help="With --admin-*: only the key with this reference.")
@ca_config_option
@admin_options
def list_keys(provisioner: str, reference: str, ca_config: str | None, admin_api: AdminOptions) -> None:
    """Print the provisioner's keys (without their HMAC keys) as JSON."""
    if admin_api.given:
        path = f"/admin/acme/eab/{provisioner}" + (f"/{reference}" if reference else "")
        with admin_session(admin_api) as session:
            click.echo(json.dumps([_remote_key(k) for k in session.pages(path, "eaks")], indent=2))
        return
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
@admin_options
def remove(provisioner: str, key_id: str, ca_config: str | None, admin_api: AdminOptions) -> None:
    """Remove a key (an account already bound with it stays registered)."""
    if admin_api.given:
        with admin_session(admin_api) as session:
            session.call("DELETE", f"/admin/acme/eab/{provisioner}/{key_id}")
        click.echo(f"Removed EAB key '{key_id}' of provisioner '{provisioner}'.", err=True)
        return
    store = _store(ca_config, provisioner)
    try:
        removed = store.remove_eab_key(provisioner, key_id)
    finally:
        store.close()
    if not removed:
        raise NotFound(f"provisioner '{provisioner}' has no EAB key '{key_id}'")
    click.echo(f"Removed EAB key '{key_id}' of provisioner '{provisioner}'.", err=True)
