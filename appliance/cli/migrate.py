"""``appliance migrate step-ca --from DSN``: import a step-ca's MySQL or PostgreSQL datastore
(certificates, revocations, used tokens, SSH certificates, ACME accounts/orders/EAB keys,
provisioners and admins) into this CA's database, in one transaction, idempotently."""

from __future__ import annotations

import click

from appliance.cli.options import ca_config_option, default_path
from appliance.client.settings import ClientPaths, resolve_ca_config
from appliance.config import load_config
from appliance.db import open_database
from appliance.db.stepca_source import StepCaSource, source_url
from appliance.migrate.stepca import migrate as import_step_ca
from appliance.pki.clock import utc_now


@click.group()
def migrate() -> None:
    """Import another CA's data into this CA's database."""


@migrate.command("step-ca")
@click.option("--from", "dsn", required=True, metavar="DSN",
              help="step-ca's db.dataSource: postgresql://user:pass@host:port/db, mysql://user:pass@host:port/db "
                   "or user:pass@tcp(host:port)/db.")
@click.option("--database", help="step-ca's db.database, when the DSN names no database.")
@ca_config_option
def step_ca(dsn: str, database: str | None, ca_config: str | None) -> None:
    """Import a stopped step-ca's data; a record already present is left as it is, so a second run
    imports nothing. All or nothing: on any error the target is unchanged."""
    config = load_config(resolve_ca_config(ClientPaths.at(default_path()), ca_config), report=False)
    acme = [p for p in config.authority.provisioners if str(p.get("type", "")).upper() == "ACME"]
    eab = [p for p in acme if p.get("requireEAB")]
    source = StepCaSource(source_url(dsn, database))
    target = open_database(config.db)
    try:
        with target.transaction(immediate=True) as conn:
            summary = import_step_ca(source, conn, utc_now(),
                                     default_acme=str(acme[0]["name"]) if len(acme) == 1 else None,
                                     default_eab=str(eab[0]["name"]) if len(eab) == 1 else None)
    finally:
        target.close()
        source.close()
    click.echo(f"from {source.description} into {target.description}:")
    for line in summary.lines():
        click.echo(f"  {line}")
    click.echo(f"{summary.total_imported} records imported")
