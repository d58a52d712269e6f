"""``appliance ca admin ...`` and ``appliance ca policy ...``: remote management through
the CA's admin API (ca.json ``enableAdmin``), as ``step ca admin`` and ``step ca policy``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from appliance.cli.options import AdminOptions, admin_options, admin_session
from appliance.client.admin import AdminSession
from appliance.client.http import CaRequestFailed
from appliance.errors import BadRequest

F = Callable[..., Any]
ADMIN_TYPES = {"super": "SUPER_ADMIN", "admin": "ADMIN"}


def _admin_type(super_admin: bool) -> str:
    return ADMIN_TYPES["super" if super_admin else "admin"]


def _show(data: object) -> None:
    click.echo(json.dumps(data, indent=3))


def _provisioner_names(session: AdminSession) -> dict[str, str]:
    """Provisioner ids to names (the admin list names provisioners by id)."""
    names = [str(p.get("name")) for p in session.pages("/admin/provisioners", "provisioners")]
    return {session.provisioner_id(name): name for name in names}


@click.group("admin")
def admin() -> None:
    """List, add, remove and update the admins of a CA with remote management."""


@admin.command("list")
@admin_options
def list_admins(admin_api: AdminOptions) -> None:
    """Print the admins: subject, provisioner, type, id (tab-separated)."""
    with admin_session(admin_api) as session:
        names = _provisioner_names(session)
        for entry in session.pages("/admin/admins", "admins"):
            click.echo("\t".join((str(entry["subject"]), names.get(str(entry["provisionerId"]), "?"),
                                  str(entry["type"]), str(entry["id"]))))


@admin.command("add")
@click.argument("subject")
@click.argument("provisioner")
@click.option("--super", "super_admin", is_flag=True, help="A SUPER_ADMIN (may manage admins), not an ADMIN.")
@admin_options
def add_admin(subject: str, provisioner: str, super_admin: bool, admin_api: AdminOptions) -> None:
    """Make SUBJECT (a certificate name) an admin authenticated through PROVISIONER."""
    with admin_session(admin_api) as session:
        _show(session.call("POST", "/admin/admins", {"subject": subject, "provisioner": provisioner,
                                                      "type": _admin_type(super_admin)}))


@admin.command("remove")
@click.argument("subject")
@click.option("--provisioner", help="The admin's provisioner, when several admins share SUBJECT.")
@admin_options
def remove_admin(subject: str, provisioner: str | None, admin_api: AdminOptions) -> None:
    """Remove an admin (the last super admin stays)."""
    with admin_session(admin_api) as session:
        found = session.find_admin(subject, provisioner)
        session.call("DELETE", f"/admin/admins/{found['id']}")
    click.echo(f"Removed admin '{subject}'.", err=True)


@admin.command("update")
@click.argument("subject")
@click.option("--super/--admin", "super_admin", required=True, help="The new type: SUPER_ADMIN or ADMIN.")
@click.option("--provisioner", help="The admin's provisioner, when several admins share SUBJECT.")
@admin_options
def update_admin(subject: str, super_admin: bool, provisioner: str | None, admin_api: AdminOptions) -> None:
    """Change an admin's type."""
    with admin_session(admin_api) as session:
        found = session.find_admin(subject, provisioner)
        _show(session.call("PATCH", f"/admin/admins/{found['id']}", {"type": _admin_type(super_admin)}))


@click.group("policy")
def policy() -> None:
    """The authority's or a provisioner's name policy, through the admin API (linkedca
    ``Policy`` JSON); the authority's replaces ca.json's ``authority.policy``."""


def policy_options(command: F) -> F:
    """Whose policy: the authority's (default), a provisioner's, or an ACME account's."""
    for option in reversed([
        click.option("--provisioner", help="A provisioner's policy (default: the authority's)."),
        click.option("--eab-key-id", help="With an ACME --provisioner: the policy of the account this EAB key binds."),
        click.option("--eab-reference", help="With an ACME --provisioner: the same, the EAB key named by reference."),
    ]):
        command = option(command)
    return command


def _policy_path(provisioner: str | None, eab_key_id: str | None, eab_reference: str | None) -> str:
    if eab_key_id or eab_reference:
        if not provisioner or (eab_key_id and eab_reference):
            raise BadRequest("an ACME account policy needs --provisioner and one of --eab-key-id, --eab-reference")
        by, value = ("key", eab_key_id) if eab_key_id else ("reference", eab_reference)
        return f"/admin/acme/policy/{provisioner}/{by}/{value}"
    return f"/admin/provisioners/{provisioner}/policy" if provisioner else "/admin/authority/policy"


@policy.command("view")
@policy_options
@admin_options
def view_policy(provisioner: str | None, eab_key_id: str | None, eab_reference: str | None,
                admin_api: AdminOptions) -> None:
    """Print the policy."""
    with admin_session(admin_api) as session:
        _show(session.call("GET", _policy_path(provisioner, eab_key_id, eab_reference)))


@policy.command("set")
@click.argument("policy_file", type=click.Path(exists=True, dir_okay=False))
@policy_options
@admin_options
def set_policy(policy_file: str, provisioner: str | None, eab_key_id: str | None, eab_reference: str | None,
               admin_api: AdminOptions) -> None:
    """Create or replace the policy from POLICY_FILE, e.g.
    {"x509": {"allow": {"dns": ["*.example.com"]}}}."""
    try:
        body = json.loads(Path(policy_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadRequest(f"cannot read a JSON policy from {policy_file}: {exc}") from None
    with admin_session(admin_api) as session:
        try:
            _show(session.call("PUT", _policy_path(provisioner, eab_key_id, eab_reference), body))
        except CaRequestFailed as err:
            if err.status != 404:
                raise
            _show(session.call("POST", _policy_path(provisioner, eab_key_id, eab_reference), body))


@policy.command("remove")
@policy_options
@admin_options
def remove_policy(provisioner: str | None, eab_key_id: str | None, eab_reference: str | None,
                admin_api: AdminOptions) -> None:
    """Remove the policy."""
    with admin_session(admin_api) as session:
        session.call("DELETE", _policy_path(provisioner, eab_key_id, eab_reference))
    click.echo("Removed the policy.", err=True)
