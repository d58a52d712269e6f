"""The ``appliance`` command: one group per area, each in its own module."""

from __future__ import annotations

import sys
from typing import Any

import click

from appliance import __version__
from appliance.errors import ApplianceError
from appliance.cli.acme import acme
from appliance.cli.audit import audit
from appliance.cli.ca import ca
from appliance.cli.ca_admin import admin, policy
from appliance.cli.ca_provisioner import provisioner
from appliance.cli.ceremony import ceremony
from appliance.cli.certificate import certificate
from appliance.cli.crypto import crypto
from appliance.cli.init import init
from appliance.cli.kms import kms
from appliance.cli.migrate import migrate
from appliance.cli.serve import serve
from appliance.cli.ssh import ssh


class ApplianceGroup(click.Group):
    """Reports domain errors as one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApplianceError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)


@click.group(cls=ApplianceGroup)
@click.version_option(__version__, prog_name="appliance")
def cli() -> None:
    """An HSM- and KMS-centric certificate authority."""


cli.add_command(init)
cli.add_command(kms)
cli.add_command(serve)
cli.add_command(ceremony)
cli.add_command(ca)
ca.add_command(provisioner)
ca.add_command(acme)
ca.add_command(admin)
ca.add_command(policy)
cli.add_command(certificate)
cli.add_command(crypto)
cli.add_command(ssh)
cli.add_command(audit)
cli.add_command(migrate)
