"""``appliance ca provisioner ...``: list and edit the provisioners in ca.json (reload
the CA with SIGHUP to apply an edit), or, with remote management (``--admin-*``
options, or a local ca.json with ``enableAdmin``), through the CA's admin API."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Callable

import click

from appliance.cli.options import (
    AdminOptions, admin_options, admin_session, ca_config_option, default_path, password_file_option,
    read_password_file,
)
from appliance.client.admin import RemoteProvisioners
from appliance.client.provisioners import FIELD_FLAGS, CaJson, FieldFlag, ProvisionerOptions
from appliance.provisioner.types import BUILT_TYPES
from appliance.provisioner.webhooks import KINDS
from appliance.client.settings import ClientPaths, resolve_ca_config
from appliance.client.webhooks import WebhookOptions, add_webhook, remove_webhook, update_webhook
from appliance.pki.duration import parse_duration
from appliance.errors import BadRequest

F = Callable[..., Any]
#: ``--option`` -> the claim it sets (step's flag names).
DURATION_CLAIMS = {
    "x509_min_dur": "minTLSCertDuration",
    "x509_max_dur": "maxTLSCertDuration",
    "x509_default_dur": "defaultTLSCertDuration",
}
FLAG_CLAIMS = {
    "disable_renewal": "disableRenewal",
    "allow_renewal_after_expiry": "allowRenewalAfterExpiry",
}


def _ca_json(ca_config: str | None) -> CaJson:
    return CaJson(resolve_ca_config(ClientPaths.at(default_path()), ca_config))


type_option = click.option("--type", "type_name", type=click.Choice(sorted(BUILT_TYPES), case_sensitive=False),
                           help="The provisioner type.")


def edit_options(command: F) -> F:
    """Credential and claims options shared by ``add`` and ``update``."""
    options = [
        click.option("--create", is_flag=True, help="Generate a new key (JWK: encrypted with --password-file)."),
        click.option("--public-key", type=click.Path(exists=True, dir_okay=False), help="A public JWK file."),
        password_file_option,
        click.option("--x509-min-dur", help="Shortest certificate lifetime (e.g. 5m)."),
        click.option("--x509-max-dur", help="Longest certificate lifetime (e.g. 24h)."),
        click.option("--x509-default-dur", help="Default certificate lifetime."),
        click.option("--disable-renewal/--allow-renewal", default=None, help="Refuse or allow renewals."),
        click.option("--allow-renewal-after-expiry/--disallow-renewal-after-expiry", default=None,
                     help="Allow renewing an expired certificate (with an x5c token)."),
        click.option("--challenge", "challenges", multiple=True,
                     help="ACME: an enabled challenge type, http-01, dns-01 or tls-alpn-01 (repeatable; default "
                          "all three). SCEP: the challenge password (step's flag: it shows in the process list)."),
        click.option("--require-eab/--no-require-eab", default=None,
                     help="ACME: require an External Account Binding to register."),
    ]
    for option in reversed(options):
        command = option(command)
    for field in reversed(FIELD_FLAGS):
        command = _field_option(field)(command)
    return command


def _field_option(field: FieldFlag) -> Callable[[F], F]:
    names = (field.flag, *field.aliases)
    if field.kind == "flag":
        return click.option(*names, is_flag=True, default=None, help=field.help)
    if field.kind in ("str", "int"):
        return click.option(*names, type=int if field.kind == "int" else None, help=field.help)
    if field.kind == "secret":
        return click.option(*names, type=click.Path(exists=True, dir_okay=False), help=field.help)
    return click.option(*names, multiple=True, type=click.Path(exists=True, dir_okay=False)
                        if field.kind == "pem" else None, help=field.help)


def _settings(values: dict[str, Any]) -> dict[str, Any]:
    """The type-specific ca.json members the ``FIELD_FLAGS`` set."""
    settings: dict[str, Any] = {}
    for field in FIELD_FLAGS:
        value = values[field.flag.lstrip("-").replace("-", "_")]
        if value is None or value == ():
            continue
        if field.kind == "pem":
            pem = b"".join(Path(path).read_bytes() for path in value)
            settings[field.member] = base64.b64encode(pem).decode("ascii")
        elif field.kind == "secret":
            settings[field.member] = (read_password_file(value) or b"").decode("utf-8")
        else:
            settings[field.member] = list(value) if field.kind == "list" else value
    return settings


def _claims(values: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for option, claim in DURATION_CLAIMS.items():
        if values[option]:
            parse_duration(values[option])
            claims[claim] = values[option]
    claims.update({claim: values[option] for option, claim in FLAG_CLAIMS.items() if values[option] is not None})
    return claims


def _options(values: dict[str, Any]) -> ProvisionerOptions:
    public_key = None
    if values["public_key"]:
        try:
            public_key = json.loads(Path(values["public_key"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadRequest(f"cannot read a JWK from {values['public_key']}: {exc}") from None
    password = read_password_file(values["password_file"])
    if values["create"] and password is None:
        password = click.prompt("Password to encrypt the new provisioner key", hide_input=True,
                                confirmation_prompt=True, err=True).encode()
    return ProvisionerOptions(create=values["create"], password=password, public_key=public_key,
                              claims=_claims(values), challenges=values["challenges"],
                              require_eab=values["require_eab"], settings=_settings(values))


def _saved(ca_json: CaJson, what: str) -> None:
    ca_json.save()
    click.echo(f"{what} in {ca_json.path}; reload the CA (SIGHUP) to apply it.", err=True)


@click.group()
def provisioner() -> None:
    """List, add, remove and update the provisioners in ca.json."""


def _remote(ca_config: str | None, admin_api: AdminOptions) -> bool:
    """Whether to edit through the admin API: admin options given, or the local ca.json
    says the CA keeps its provisioners in its database."""
    if admin_api.given:
        return True
    path = resolve_ca_config(ClientPaths.at(default_path()), ca_config)
    return path.is_file() and CaJson(path).data.get("authority", {}).get("enableAdmin") is True


def _applied(what: str) -> None:
    click.echo(f"{what} through the admin API; every CA instance serves it within seconds.", err=True)


@provisioner.command("list")
@ca_config_option
@admin_options
def list_provisioners(ca_config: str | None, admin_api: AdminOptions) -> None:
    """Print the provisioners as JSON."""
    if _remote(ca_config, admin_api):
        with admin_session(admin_api) as session:
            click.echo(json.dumps(RemoteProvisioners(session).list(), indent=3))
        return
    click.echo(json.dumps(_ca_json(ca_config).provisioners, indent=3))


@provisioner.command()
@click.argument("name")
@type_option
@edit_options
@ca_config_option
@admin_options
def add(name: str, type_name: str | None, ca_config: str | None, admin_api: AdminOptions, **values: Any) -> None:
    """Add a provisioner (JWK: --create a key, or --public-key FILE)."""
    if _remote(ca_config, admin_api):
        with admin_session(admin_api) as session:
            RemoteProvisioners(session).add(name, type_name or "JWK", _options(values))
        _applied(f"Added provisioner '{name}'")
        return
    ca_json = _ca_json(ca_config)
    ca_json.add(name, type_name or "JWK", _options(values))
    _saved(ca_json, f"Added provisioner '{name}'")


@provisioner.command()
@click.argument("name")
@type_option
@ca_config_option
@admin_options
def remove(name: str, type_name: str | None, ca_config: str | None, admin_api: AdminOptions) -> None:
    """Remove a provisioner."""
    if _remote(ca_config, admin_api):
        with admin_session(admin_api) as session:
            RemoteProvisioners(session).remove(name)
        _applied(f"Removed provisioner '{name}'")
        return
    ca_json = _ca_json(ca_config)
    ca_json.remove(name, type_name)
    _saved(ca_json, f"Removed provisioner '{name}'")


@provisioner.command()
@click.argument("name")
@type_option
@edit_options
@ca_config_option
@admin_options
def update(name: str, type_name: str | None, ca_config: str | None, admin_api: AdminOptions, **values: Any) -> None:
    """Change a provisioner's key (--create, --public-key) or claims."""
    if _remote(ca_config, admin_api):
        with admin_session(admin_api) as session:
            RemoteProvisioners(session).update(name, _options(values))
        _applied(f"Updated provisioner '{name}'")
        return
    ca_json = _ca_json(ca_config)
    ca_json.update(name, type_name, _options(values))
    _saved(ca_json, f"Updated provisioner '{name}'")


@provisioner.group()
def webhook() -> None:
    """Add, update and remove a provisioner's webhooks (as ``step ca provisioner webhook``)."""


def webhook_options(command: F) -> F:
    options = [
        click.option("--url", help="The webhook's URL (a template: {{ .Token.email }} ...)."),
        click.option("--kind", type=click.Choice(list(KINDS), case_sensitive=False),
                     help="ENRICHING (data for templates, the default), AUTHORIZING (allow or deny), "
                          "SCEPCHALLENGE (validates SCEP challenges) or NOTIFYING (told of SCEP issuances)."),
        click.option("--cert-type", type=click.Choice(["ALL", "X509", "SSH"], case_sensitive=False),
                     help="Which certificates the webhook sees (default ALL)."),
        click.option("--bearer-token-file", type=click.Path(exists=True, dir_okay=False),
                     help="A file with the bearer token sent to the webhook."),
        click.option("--basic-auth-username", help="The username of HTTP basic authentication."),
        click.option("--basic-auth-password-file", type=click.Path(exists=True, dir_okay=False),
                     help="A file with the password of HTTP basic authentication."),
        click.option("--disable-tls-client-auth/--enable-tls-client-auth", default=None,
                     help="Do not present the CA's TLS certificate to the webhook server."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _secret_file(path: str | None) -> str | None:
    secret = read_password_file(path)
    return None if secret is None else secret.decode()


def _webhook_values(values: dict[str, Any]) -> WebhookOptions:
    return WebhookOptions(
        url=values["url"], kind=values["kind"], cert_type=values["cert_type"],
        bearer_token=_secret_file(values["bearer_token_file"]), basic_username=values["basic_auth_username"],
        basic_password=_secret_file(values["basic_auth_password_file"]),
        disable_tls_client_auth=values["disable_tls_client_auth"],
    )


@webhook.command("add")
@click.argument("provisioner_name")
@click.argument("name")
@webhook_options
@ca_config_option
@admin_options
def webhook_add(provisioner_name: str, name: str, ca_config: str | None, admin_api: AdminOptions,
                **values: Any) -> None:
    """Add a webhook; prints its id and signing secret for the webhook server."""
    if _remote(ca_config, admin_api):
        with admin_session(admin_api) as session:
            entry = RemoteProvisioners(session).add_webhook(provisioner_name, name, _webhook_values(values))
        _applied(f"Added webhook '{name}' to provisioner '{provisioner_name}'")
        click.echo(f"Webhook ID: {entry['id']}")
        click.echo(f"Signing Secret: {entry['secret']}")
        return
    ca_json = _ca_json(ca_config)
    entry = add_webhook(ca_json, provisioner_name, name, _webhook_values(values))
    _saved(ca_json, f"Added webhook '{name}' to provisioner '{provisioner_name}'")
    click.echo(f"Webhook ID: {entry['id']}")
    click.echo(f"Signing Secret: {entry['secret']}")


@webhook.command("update")
@click.argument("provisioner_name")
@click.argument("name")
@webhook_options
@ca_config_option
@admin_options
def webhook_update(provisioner_name: str, name: str, ca_config: str | None, admin_api: AdminOptions,
                   **values: Any) -> None:
    """Change a webhook's URL, kind, certificate type or authentication."""
    if _remote(ca_config, admin_api):
        with admin_session(admin_api) as session:
            RemoteProvisioners(session).update_webhook(provisioner_name, name, _webhook_values(values))
        _applied(f"Updated webhook '{name}' of provisioner '{provisioner_name}'")
        return
    ca_json = _ca_json(ca_config)
    update_webhook(ca_json, provisioner_name, name, _webhook_values(values))
    _saved(ca_json, f"Updated webhook '{name}' of provisioner '{provisioner_name}'")


@webhook.command("remove")
@click.argument("provisioner_name")
@click.argument("name")
@ca_config_option
@admin_options
def webhook_remove(provisioner_name: str, name: str, ca_config: str | None, admin_api: AdminOptions) -> None:
    """Remove a webhook."""
    if _remote(ca_config, admin_api):
        with admin_session(admin_api) as session:
            RemoteProvisioners(session).remove_webhook(provisioner_name, name)
        _applied(f"Removed webhook '{name}' from provisioner '{provisioner_name}'")
        return
    ca_json = _ca_json(ca_config)
    remove_webhook(ca_json, provisioner_name, name)
    _saved(ca_json, f"Removed webhook '{name}' from provisioner '{provisioner_name}'")
