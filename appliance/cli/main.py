"""The ``appliance`` command: one group per area, each in its own module, imported when it runs."""

from __future__ import annotations

import sys
from typing import Any

import click

from appliance import __version__
from appliance.cli.lazy import LazyGroup
from appliance.errors import ApplianceError

AREAS = {name: f"appliance.cli.{module}:{name}" for name, module in [
    ("init", "init"), ("kms", "kms"), ("serve", "serve"), ("ceremony", "ceremony"), ("ca", "ca"),
    ("certificate", "certificate"), ("crypto", "crypto"), ("ssh", "ssh"), ("audit", "audit"),
    ("migrate", "migrate")]}


class ApplianceGroup(LazyGroup):
    """Reports domain errors as one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApplianceError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)


@click.group(cls=ApplianceGroup, lazy=AREAS)
@click.version_option(__version__, prog_name="appliance")
def cli() -> None:
    """An HSM- and KMS-centric certificate authority."""
